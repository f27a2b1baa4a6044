/**
 * External workloads of a local cluster (`cmesh clustermesh vm ...`): the CiliumExternalWorkload objects, their
 * registration status as the cluster's clustermesh-apiserver reports it, and the self-contained install script a VM
 * runs to join the cluster (its endpoint, CA and the `externalworkload` client certificate, embedded).
 */
import { readFile } from 'node:fs/promises';
import type { Etcd3 } from 'etcd3';
import { NotFoundError } from '../k8s/errors.js';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { ObjectStore } from '../k8s/object-store.js';
import type { CiliumExternalWorkload } from '../k8s/types.js';
import { EXTERNAL_WORKLOAD_USER } from '../kvstore/users.js';
import { caFiles, userCertFiles } from './certificates-store.js';
import { clustermeshEndpoint } from './clustermesh-tls.js';
import { cmeshEntry } from './daemon.js';
import type { ClusterPaths } from './home.js';
import { writePrivateFile } from './private-file.js';

export const VM_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** How long `vm status` waits for the apiserver's health endpoint. */
const STATUS_TIMEOUT_MS = 3_000;

export class VmError extends Error {
  override name = 'VmError';
}

export interface CreateVmOptions {
  name: string;
  ipv4AllocCidr?: string;
  labels?: Record<string, string>;
  namespace?: string;
}

/** `k=v,k2=v2` -> labels. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new VmError(`invalid label "${part}": use key=value[,key=value...]`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export function vmObject(o: CreateVmOptions): CiliumExternalWorkload {
  const labels = { ...(o.labels ?? {}), ...(o.namespace ? { [VM_NAMESPACE_LABEL]: o.namespace } : {}) };
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumExternalWorkload',
    metadata: { name: o.name, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    ...(o.ipv4AllocCidr ? { spec: { 'ipv4-alloc-cidr': o.ipv4AllocCidr } } : {}),
  };
}

export async function createVm(state: Etcd3, o: CreateVmOptions): Promise<CiliumExternalWorkload> {
  return new ObjectStore(state).create(vmObject(o));
}

export async function deleteVm(state: Etcd3, name: string): Promise<void> {
  const gone = await new ObjectStore(state).delete('CiliumExternalWorkload', undefined, name);
  if (!gone) throw new NotFoundError({ kind: 'CiliumExternalWorkload', name });
}

export async function listVms(state: Etcd3): Promise<CiliumExternalWorkload[]> {
  return (await new ObjectStore(state).list('CiliumExternalWorkload')).items;
}

/** One row of `vm status`. */
export interface VmStatus {
  name: string;
  /** A CiliumExternalWorkload of this name exists. */
  known: boolean;
  registered: boolean;
  state: string;
  reason: string | null;
  ip: string | null;
  identity: number | null;
  node: string | null;
  lastSeen: string | null;
  refusals: { at: string; reason: string }[];
}

interface ApiserverWorkload {
  name: string;
  known: boolean;
  state: string;
  reason: string | null;
  ip: string | null;
  identity: number | null;
  node: string | null;
  lastSeen: string | null;
  refusals: { at: string; reason: string }[];
}

/** The apiserver's view (registrations, refusals), or undefined when it does not answer. */
async function apiserverWorkloads(record: ClusterRecord): Promise<ApiserverWorkload[] | undefined> {
  const port = record.ports.apiserverHealth;
  if (!port) return undefined;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
    const body = (await res.json()) as { detail?: { externalWorkloads?: ApiserverWorkload[] } | null };
    return body.detail?.externalWorkloads;
  } catch {
    return undefined;
  }
}

/**
 * Every workload (or one): the CiliumExternalWorkloads merged with the apiserver's registrations, including refused
 * registrations of unknown names. Without a reachable apiserver, only what the CEW status says.
 */
export async function vmStatus(
  record: ClusterRecord,
  state: Etcd3,
  name?: string,
): Promise<{ apiserver: boolean; workloads: VmStatus[] }> {
  const cews = await listVms(state);
  const live = await apiserverWorkloads(record);
  const byName = new Map<string, VmStatus>();
  for (const c of cews) {
    byName.set(c.metadata.name, {
      name: c.metadata.name,
      known: true,
      registered: false,
      state: 'unknown',
      reason: null,
      ip: c.status?.ip ?? null,
      identity: c.status?.id ?? null,
      node: null,
      lastSeen: null,
      refusals: [],
    });
  }
  for (const w of live ?? []) {
    const base = byName.get(w.name);
    byName.set(w.name, {
      name: w.name,
      known: base !== undefined,
      registered: w.state === 'registered',
      state: w.state,
      reason: w.reason,
      ip: w.ip ?? base?.ip ?? null,
      identity: w.identity ?? base?.identity ?? null,
      node: w.node,
      lastSeen: w.lastSeen,
      refusals: w.refusals,
    });
  }
  let workloads = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (name !== undefined) {
    workloads = workloads.filter((w) => w.name === name);
    if (workloads.length === 0) throw new NotFoundError({ kind: 'CiliumExternalWorkload', name });
  }
  return { apiserver: live !== undefined, workloads };
}

/** The facts the install script embeds. */
export interface InstallScriptInput {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: number;
  endpoint: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** How to run cmesh when it is not on PATH (this build's entry point). */
  fallbackCmesh: string;
}

function heredoc(tag: string, content: string): string {
  return `<<'${tag}'\n${content.endsWith('\n') ? content : content + '\n'}${tag}\n`;
}

/** A bash script: `install.sh [--vm-name NAME] --vm-ip IP [--dir DIR]` or `install.sh stop [--dir DIR]`. */
export function renderInstallScript(i: InstallScriptInput): string {
  return `#!/usr/bin/env bash
# cmesh external workload installer for cluster "${i.clusterName}" (ID ${i.clusterId}).
# Joins this machine to the cluster as an external workload: writes the cluster's CA and the externalworkload
# client certificate under --dir, then starts \`cmesh agent --external-workload\` there as a background service.
#   install: $0 [--vm-name NAME (default: hostname)] --vm-ip IP [--dir DIR (default: ./cmesh-vm-NAME)]
#   stop:    $0 stop --dir DIR
# Needs node and cmesh (CMESH="command" overrides how cmesh is run).
set -euo pipefail
ACTION=install
if [ "\${1:-}" = "stop" ] || [ "\${1:-}" = "install" ]; then ACTION="$1"; shift; fi
VM_NAME="$(hostname)"
VM_IP=""
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --vm-name) VM_NAME="$2"; shift 2 ;;
    --vm-ip) VM_IP="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
DIR="\${DIR:-./cmesh-vm-$VM_NAME}"
if [ "$ACTION" = "stop" ]; then
  if [ -f "$DIR/agent.pid" ]; then kill "$(cat "$DIR/agent.pid")" 2>/dev/null || true; rm -f "$DIR/agent.pid"; fi
  echo "stopped the external workload agent in $DIR"
  exit 0
fi
[ -n "$VM_IP" ] || { echo "--vm-ip is required" >&2; exit 2; }
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
umask 077
cat > "$DIR/ca.crt" ${heredoc('CMESH_CA', i.caPem)}cat > "$DIR/client.crt" ${heredoc('CMESH_CERT', i.certPem)}cat > "$DIR/client.key" ${heredoc('CMESH_KEY', i.keyPem)}cat > "$DIR/etcd-config.yaml" <<EOF
endpoints:
  - ${i.endpoint}
trusted-ca-file: $DIR/ca.crt
cert-file: $DIR/client.crt
key-file: $DIR/client.key
EOF
if [ -z "\${CMESH:-}" ]; then
  if command -v cmesh >/dev/null 2>&1; then CMESH=cmesh; else CMESH="node ${i.fallbackCmesh}"; fi
fi
if [ -f "$DIR/agent.pid" ] && kill -0 "$(cat "$DIR/agent.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$DIR/agent.pid")) in $DIR"; exit 0
fi
nohup $CMESH agent --external-workload --vm-name "$VM_NAME" --vm-ip "$VM_IP" \\
  --cluster-name ${i.clusterName} --cluster-id ${i.clusterId} --max-connected-clusters ${i.maxConnectedClusters} \\
  --kvstore-config "$DIR/etcd-config.yaml" --api-socket "$DIR/agent.sock" >"$DIR/agent.log" 2>&1 </dev/null &
echo $! > "$DIR/agent.pid"
echo "started the external workload agent of $VM_NAME ($VM_IP) in $DIR (pid $(cat "$DIR/agent.pid"))"
echo "status: cmesh agent views with --api-socket $DIR/agent.sock; stop: $0 stop --dir $DIR"
`;
}

/** Writes the install script for `record`'s cluster (clustermesh must be enabled with TLS). */
export async function writeInstallScript(
  record: ClusterRecord,
  paths: ClusterPaths,
  file: string,
  opts: { force?: boolean } = {},
): Promise<void> {
  if (!record.clustermesh?.enabled) {
    throw new VmError(`clustermesh is not enabled on cluster ${record.name}: run \`cmesh clustermesh enable\` first`);
  }
  if (!record.clustermesh.tls) {
    throw new VmError(`the clustermesh etcd of cluster ${record.name} has no TLS: external workloads need it`);
  }
  const cert = userCertFiles(paths, EXTERNAL_WORKLOAD_USER);
  const script = renderInstallScript({
    clusterName: record.name,
    clusterId: record.id,
    maxConnectedClusters: record.maxConnectedClusters,
    endpoint: clustermeshEndpoint(record),
    caPem: await readFile(caFiles(paths).cert, 'utf8'),
    certPem: await readFile(cert.cert, 'utf8'),
    keyPem: await readFile(cert.key, 'utf8'),
    fallbackCmesh: cmeshEntry(),
  });
  // It embeds the workload's private key: owner-only (0700: it is run directly), never through a symlink.
  await writePrivateFile(file, script, { mode: 0o700, ...(opts.force ? { force: true } : {}) });
}
