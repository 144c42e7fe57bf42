#!/usr/bin/env bash
# Tests and builds the Go policies with the standard Go toolchain (Go >= 1.24; CI has 1.26):
#   - `gofmt -l`, `go vet` and `go test` in sdk-go/ (the Go SDK) and policies/go/upgrade-ordering/
#     (the reference policy, run natively on the Rust policy's fixtures);
#   - GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared of the reference policy and of the
#     small test policies in sdk-go/internal/testpolicies/ into target/go-policies/NAME.wasm,
#     which the engine, CLI and simulate tests load (they skip loudly when it is missing,
#     and fail instead with FLEETWARD_REQUIRE_GO=1, as in CI).
# Nothing built is committed. -trimpath keeps the module bytes independent of the checkout path.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    echo "build-go-policies: Go is not installed (need Go >= 1.24 for wasip1 reactors with //go:wasmexport)" >&2
    exit 1
  fi
fi

ROOT="$PWD"
OUT="$ROOT/target/go-policies"
mkdir -p "$OUT"

for module in sdk-go policies/go/upgrade-ordering; do
  unformatted="$(cd "$module" && gofmt -l .)"
  if [ -n "$unformatted" ]; then
    echo "build-go-policies: not gofmt-formatted in $module: $unformatted (run gofmt -w)" >&2
    exit 1
  fi
  (cd "$module" && go vet ./... && GOOS=wasip1 GOARCH=wasm go vet ./... && go test ./...)
done

build() { # build DIR NAME
  (cd "$1" && GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o "$OUT/$2.wasm" .)
  echo "build-go-policies: built target/go-policies/$2.wasm ($(wc -c <"$OUT/$2.wasm") bytes)"
}
build policies/go/upgrade-ordering upgrade-ordering
for t in sdk-go/internal/testpolicies/*/; do
  build "$t" "test-$(basename "$t")"
done
