#!/usr/bin/env bash
# The main job (README): simulate a 30-cluster, 3-tenant rollout on the embedded emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for demo
cargo run -q -p fleetward -- simulate examples/scenarios/rollout.yaml --out reports/rollout "$@"
