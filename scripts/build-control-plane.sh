#!/usr/bin/env bash
# Builds the real control plane the tests use — kube-apiserver, kube-controller-manager and etcd,
# as one binary `fleetward-testcp` — from the Go modules pinned in testenv/controlplane/{versions.env,
# go.mod,go.sum}. Output goes to a cache outside the work tree:
#   ${FLEETWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fleetward}/control-plane/<key>/fleetward-testcp
# where <key> hashes go.mod, go.sum and main.go (the Rust side, fleetward-testenv, computes the
# same key). Idempotent: a no-op when that file exists. Prints the binary's path on stdout.
#
#   scripts/build-control-plane.sh            build if needed
#   scripts/build-control-plane.sh --update   rewrite go.mod/go.sum from versions.env (needs the proxy)
set -euo pipefail
cd "$(dirname "$0")/../testenv/controlplane"
log() { echo "build-control-plane: $*" >&2; }

# shellcheck source=/dev/null
. ./versions.env

if ! command -v go >/dev/null 2>&1; then
  log "ERROR: Go is not installed; the real-API-server tests need Go >= 1.26 to build the control plane"
  exit 3
fi

if [ "${1:-}" = "--update" ]; then
  log "pinning k8s.io/kubernetes $KUBERNETES_VERSION (staging $STAGING_VERSION) and etcd $ETCD_VERSION"
  go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION" -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  for m in $(go mod edit -json | python3 -c 'import json,sys; [print(r["Old"]["Path"]) for r in json.load(sys.stdin).get("Replace") or []]'); do
    go mod edit -replace="$m=$m@$STAGING_VERSION"
  done
  go mod tidy
fi

# go.mod must say what versions.env says.
check_pin() { # module version
  if ! go mod edit -json | python3 -c '
import json, sys
mod, want = sys.argv[1], sys.argv[2]
doc = json.load(sys.stdin)
pins = {r["Path"]: r["Version"] for r in doc.get("Require") or []}
pins.update({r["Old"]["Path"]: r["New"].get("Version") for r in doc.get("Replace") or []})
sys.exit(0 if pins.get(mod) == want else 1)' "$1" "$2"; then
    log "ERROR: go.mod does not pin $1 at $2 (versions.env); run scripts/build-control-plane.sh --update"
    exit 2
  fi
}
check_pin k8s.io/kubernetes "$KUBERNETES_VERSION"
check_pin k8s.io/apiserver "$STAGING_VERSION"
check_pin go.etcd.io/etcd/server/v3 "$ETCD_VERSION"

key=$(cat go.mod go.sum cmd/fleetward-testcp/main.go | sha256sum | cut -c1-16)
cache="${FLEETWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fleetward}/control-plane/$key"
bin="$cache/fleetward-testcp"
if [ -x "$bin" ]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

log "building kube-apiserver $KUBERNETES_VERSION, kube-controller-manager and etcd $ETCD_VERSION (first time on this machine: several minutes)"
mkdir -p "$cache"
start=$(date +%s)
# -mod=readonly: go.sum must already hold every module; -trimpath: no build paths in the binary.
GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags="-s -w" -o "$bin.tmp" ./cmd/fleetward-testcp
mv "$bin.tmp" "$bin"
log "built $bin in $(( $(date +%s) - start )) s"
echo "$bin"
