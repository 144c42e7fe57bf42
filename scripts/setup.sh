#!/usr/bin/env bash
# One-time set-up for a fresh machine: everything the build and the tests need that cargo
# cannot fetch by itself. Idempotent; safe to run before every command.
#   - the wasm32-wasip1 Rust target (reference policies are built to it);
#   - Zig from PyPI (the second-language example policy), pinned;
#   - Debian's chromium (the simulation report is checked in a headless browser), best effort;
#   - the real control plane (kube-apiserver, kube-controller-manager, etcd) built from pinned Go
#     modules by scripts/build-control-plane.sh into a cache outside the work tree (several
#     minutes the first time on a machine, a no-op after). Without Go it is skipped with a
#     warning, and so are the real-API-server tests; with FLEETWARD_REQUIRE_CONTROL_PLANE=1 (CI)
#     a missing Go or a failed build fails.
# `setup.sh --for demo` installs only what the main job needs (the Wasm target): the demo
# builds no Zig and opens no browser, so a newcomer's first command does not wait for them.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=tests
if [ "${1:-}" = "--for" ]; then
  purpose="${2:?usage: setup.sh [--for demo|tests]}"
fi
case "$purpose" in
  demo|tests) ;;
  *) echo "setup: unknown purpose '$purpose' (demo or tests)" >&2; exit 2 ;;
esac

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  echo "setup: installing Rust target wasm32-wasip1"
  rustup target add wasm32-wasip1
fi

if [ "$purpose" = demo ]; then
  exit 0
fi

ZIG_VERSION="$(cat examples/policies/zig-placement/ZIG_VERSION 2>/dev/null || echo 0.14.1)"
if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  echo "setup: installing ziglang==$ZIG_VERSION from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" \
    || echo "setup: WARNING: could not install Zig; the Zig example policy tests will be skipped"
fi

if [ "${FLEETWARD_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the report test (set FLEETWARD_SKIP_CHROMIUM=1 to skip)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: WARNING: could not install chromium; the browser check of the report will be skipped"
  else
    echo "setup: WARNING: chromium missing and not root; the browser check of the report will be skipped"
  fi
fi

# kubectl: the tests that drive it (against the emulator and the real API server) skip loudly
# without it. The machine image ships it as the `kubectl` package; install that if it is missing.
# (Debian bookworm's own `kubernetes-client` is kubectl 1.20, too old for these tests.)
if ! command -v kubectl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing the kubectl package for the kubectl tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null) \
      || echo "setup: WARNING: could not install kubectl; the kubectl tests will be SKIPPED" >&2
  else
    echo "setup: WARNING: kubectl missing and not root; the kubectl tests will be SKIPPED" >&2
  fi
fi

if command -v go >/dev/null 2>&1; then
  scripts/build-control-plane.sh >/dev/null
elif [ "${FLEETWARD_REQUIRE_CONTROL_PLANE:-0}" = 1 ]; then
  echo "setup: ERROR: Go is not installed and FLEETWARD_REQUIRE_CONTROL_PLANE=1: the real-API-server tests need Go >= 1.26" >&2
  exit 1
else
  echo "setup: WARNING: Go is not installed; the tests against a real kube-apiserver will be SKIPPED" >&2
fi
