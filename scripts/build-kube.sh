#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) and etcd
# from source at the pinned releases, into a cache folder outside the repo keyed by version:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/cmesh/kube-v1.35.4/bin   and   .../cmesh/etcd-v3.6.17/bin
# A binary already there at the pinned version is kept, so a second run takes seconds. With CMESH_KUBE_BIN_DIR set
# to a folder that holds all five binaries, nothing is built: those are checked and used. Needs Go >= 1.26.0 (etcd
# 3.6.17's go.mod) and the Go module proxy; the first build takes about 11 minutes on 2 cores (see README).
# The Go module and build caches stay in Go's default places (outside the repo). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

# Pinned versions: keep in step with kube/go.mod, kube/etcd/go.mod and src/mesh/kube-binaries.ts.
KUBE_VERSION="v1.35.4"
ETCD_VERSION="v3.6.17"
# Fixed, so that every run links the same binary (a changing date relinks everything): the v1.35.4 tag's time as the
# Go module proxy reports it.
KUBE_BUILD_DATE="2026-04-15T18:01:22Z"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/cmesh"
KUBE_BIN_DIR="$CACHE_ROOT/kube-$KUBE_VERSION/bin"
ETCD_BIN_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION/bin"
PATHS_FILE="$CACHE_ROOT/kube-bin-dirs"

log() { echo "cmesh build-kube: $*" >&2; }

# The version a binary reports, or nothing when it is missing or does not run.
reported_version() {
  local bin="$1" name
  name="$(basename "$bin")"
  [ -x "$bin" ] || return 0
  case "$name" in
    kubectl) "$bin" version --client 2>/dev/null | sed -n 's/^Client Version: //p' ;;
    etcd) "$bin" --version 2>/dev/null | sed -n 's/^etcd Version: /v/p' ;;
    *) "$bin" --version 2>/dev/null | sed -n 's/^Kubernetes //p' ;;
  esac
}

wanted_version() {
  if [ "$1" = etcd ]; then echo "$ETCD_VERSION"; else echo "$KUBE_VERSION"; fi
}

write_paths() {
  mkdir -p "$CACHE_ROOT"
  printf 'kube=%s\netcd=%s\n' "$1" "$2" >"$PATHS_FILE.tmp"
  mv "$PATHS_FILE.tmp" "$PATHS_FILE"
  log "kube binaries in $1"
  log "etcd binary in $2"
  log "(paths written to $PATHS_FILE)"
}

if [ -n "${CMESH_KUBE_BIN_DIR:-}" ]; then
  log "CMESH_KUBE_BIN_DIR=$CMESH_KUBE_BIN_DIR: using the binaries there, building nothing"
  missing=0
  for name in "${KUBE_BINARIES[@]}" etcd; do
    have="$(reported_version "$CMESH_KUBE_BIN_DIR/$name")"
    if [ -z "$have" ]; then
      log "missing or not runnable: $CMESH_KUBE_BIN_DIR/$name"
      missing=1
    elif [ "$have" != "$(wanted_version "$name")" ]; then
      log "warning: $name is $have, cmesh is tested with $(wanted_version "$name")"
    fi
  done
  if [ "$missing" -ne 0 ]; then
    log "CMESH_KUBE_BIN_DIR must hold ${KUBE_BINARIES[*]} etcd; unset it to build them from source"
    exit 1
  fi
  write_paths "$CMESH_KUBE_BIN_DIR" "$CMESH_KUBE_BIN_DIR"
  exit 0
fi

# build <module dir> <package> <out dir> <name> [ldflags]
build() {
  local moddir="$1" pkg="$2" outdir="$3" name="$4" ldflags="$5" have want start
  want="$(wanted_version "$name")"
  have="$(reported_version "$outdir/$name")"
  if [ "$have" = "$want" ]; then
    log "$name $want: already built, skipping"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed: install Go >= 1.26.0, or point CMESH_KUBE_BIN_DIR at a folder with" \
      "${KUBE_BINARIES[*]} etcd"
    exit 1
  fi
  mkdir -p "$outdir"
  log "building $name $want (${have:-not built yet}) ..."
  start=$SECONDS
  # -mod=readonly: the committed go.sum is the whole truth; a build never edits go.mod or go.sum.
  (cd "$REPO/$moddir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" \
    -o "$outdir/.$name.tmp" "$pkg")
  mv -f "$outdir/.$name.tmp" "$outdir/$name"
  log "built $name $want in $((SECONDS - start)) s ($(du -h "$outdir/$name" | cut -f1))"
}

major="${KUBE_VERSION#v}"
major="${major%%.*}"
minor="${KUBE_VERSION#v*.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  # gitCommit stays empty: the build is from the published module, not from a git checkout.
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$KUBE_BUILD_DATE"
done

total_start=$SECONDS
for name in "${KUBE_BINARIES[@]}"; do
  build kube "k8s.io/kubernetes/cmd/$name" "$KUBE_BIN_DIR" "$name" "$kube_ldflags"
done
build kube/etcd . "$ETCD_BIN_DIR" etcd "-s -w"
log "done in $((SECONDS - total_start)) s"
write_paths "$KUBE_BIN_DIR" "$ETCD_BIN_DIR"
