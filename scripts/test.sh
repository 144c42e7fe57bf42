#!/usr/bin/env bash
# The test command (README): set up, build the non-Rust example policy, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -x scripts/build-zig-example.sh ]; then
  scripts/build-zig-example.sh || echo "test: WARNING: Zig example did not build; its test will be skipped"
fi
cargo test --workspace --no-fail-fast "$@"
