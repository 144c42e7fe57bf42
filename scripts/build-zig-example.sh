#!/usr/bin/env bash
# Builds the Zig example policy (examples/policies/zig-placement) to
# target/examples/zig-placement.wasm with the pinned Zig from PyPI (installed if missing).
#
# Zig is pinned because std.json and the writer API changed between 0.13, 0.14 and 0.15; the
# policy targets the version in examples/policies/zig-placement/ZIG_VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=examples/policies/zig-placement
ZIG_VERSION="$(cat "$SRC/ZIG_VERSION")"
OUT_DIR=target/examples
OUT="$OUT_DIR/zig-placement.wasm"

if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  echo "build-zig-example: installing ziglang==$ZIG_VERSION from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION"
fi

mkdir -p "$OUT_DIR"
# Build in a scratch directory: zig writes the .wasm and an intermediate .o next to -femit-bin.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# wasm32-wasi, no _start (-fno-entry), every `export fn` exported (-rdynamic), smallest code.
python3 -m ziglang build-exe "$SRC/placement.zig" \
  -target wasm32-wasi \
  -O ReleaseSmall \
  -fno-entry \
  -rdynamic \
  --cache-dir "$WORK/cache" \
  --global-cache-dir "${ZIG_GLOBAL_CACHE_DIR:-$HOME/.cache/zig}" \
  -femit-bin="$WORK/zig-placement.wasm"
cp "$WORK/zig-placement.wasm" "$OUT"
echo "build-zig-example: built $OUT ($(wc -c <"$OUT") bytes)"
