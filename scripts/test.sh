#!/usr/bin/env bash
# The test command (README): set up, build the non-Rust policies (Zig example, Go SDK tests and
# Go policies), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -x scripts/build-zig-example.sh ]; then
  scripts/build-zig-example.sh || echo "test: WARNING: Zig example did not build; its test will be skipped"
fi
# The Go SDK's tests, the Go reference policy's tests and the Go modules the Rust tests load.
# Without Go the Rust tests that need them skip loudly; with FLEETWARD_REQUIRE_GO=1 (CI) a
# missing Go or a failing Go test fails the run.
if [ "${FLEETWARD_REQUIRE_GO:-0}" = 1 ]; then
  scripts/build-go-policies.sh
else
  scripts/build-go-policies.sh || echo "test: WARNING: Go policies did not build; their tests will be SKIPPED" >&2
fi
cargo test --workspace --no-fail-fast "$@"
