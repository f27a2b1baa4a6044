#!/usr/bin/env bash
# Installs everything cmesh needs on a fresh Debian machine: etcdctl (Debian's etcd-client package, for the
# examples and a few tests) when it is not on PATH, the npm packages, the build, and the pinned Kubernetes control
# plane and etcd built from source with Go (scripts/build-kube.sh: about 12 minutes the first time, seconds after
# that; CMESH_KUBE_BIN_DIR skips it). Every etcd cmesh starts is that pinned etcd, never a system one.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcdctl >/dev/null 2>&1; then
  echo "cmesh setup: installing etcdctl from Debian's etcd-client package" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends etcd-client >/dev/null
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
npm run --silent build

# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd at the pinned versions, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/cmesh (outside the repo); skipped when they are already there.
bash scripts/build-kube.sh
