#!/usr/bin/env bash
# What a new user does first: create a local cluster, enable ClusterMesh, deploy an app with a global service, then
# look at what the clustermesh-apiserver published, with plain etcdctl and the endpoints from `cluster inspect`.
# Usage: examples/single-cluster.sh [cluster-name] [cluster-id]     (CMESH overrides the cmesh command)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CMESH="${CMESH:-npx --no-install cmesh}"
name="${1:-east}"
id="${2:-7}"

$CMESH cluster create "$name" --id "$id" --nodes 2
$CMESH clustermesh enable --context "$name"
$CMESH apply --context "$name" -f "$here/shop.yaml"

# Endpoint and (mutual TLS) client files of the clustermesh etcd, from `cluster inspect -o json`.
read -r endpoint cacert cert key < <($CMESH cluster inspect "$name" -o json | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const e = JSON.parse(s).clustermeshEtcd;
    console.log([e.endpoints[0], e.tls?.caFile ?? "-", e.tls?.certFile ?? "-", e.tls?.keyFile ?? "-"].join(" "));
  });')
echo "clustermesh etcd of $name: $endpoint"
etcdctl() {
  if [ "$cacert" = "-" ]; then ETCDCTL_API=3 command etcdctl --endpoints="$endpoint" "$@"
  else ETCDCTL_API=3 command etcdctl --endpoints="$endpoint" --cacert="$cacert" --cert="$cert" --key="$key" "$@"; fi
}

# The operator assigns pod IPs and identities, the apiserver publishes them: wait for the three endpoints.
for _ in $(seq 1 150); do
  n="$(etcdctl get --prefix cilium/state/ip/v1/default/ --keys-only | grep -c . || true)"
  [ "$n" -ge 3 ] && break
  sleep 0.2
done
etcdctl get --prefix cilium/ --keys-only | grep .
