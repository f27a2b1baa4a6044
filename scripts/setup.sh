#!/usr/bin/env bash
# Installs everything cmesh needs on a fresh Debian machine: etcd (Debian's etcd-server package) when it is not
# on PATH, the npm packages, the build, and the pinned Kubernetes control plane and etcd built from source with Go
# (scripts/build-kube.sh: about 11 minutes the first time, seconds after that; CMESH_KUBE_BIN_DIR skips it).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null 2>&1; then
  echo "cmesh setup: installing etcd from Debian's etcd-server package" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
  # Debian may start a system etcd on :2379; cmesh never uses it (it starts its own on free loopback ports).
fi
etcd --version | head -n 1 >&2

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
npm run --silent build

# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd at the pinned versions, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/cmesh (outside the repo); skipped when they are already there.
bash scripts/build-kube.sh
