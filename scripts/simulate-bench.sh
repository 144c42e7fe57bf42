#!/usr/bin/env bash
# Times `fleetward simulate` at fleet size (issue #15, docs/performance.md "Simulate at fleet size
# (issue #15)"): builds the dev binary that scripts/demo.sh runs, runs SCENARIO (default
# examples/scenarios/fleet-1000.yaml: 1,000 clusters, 20 tenants, 10 seeds, 7 days) and prints
# wall seconds, CPU seconds (user + system) and peak RSS from /usr/bin/time.
#   scripts/simulate-bench.sh                          # the full week
#   DURATION=6h scripts/simulate-bench.sh              # a shorter run of the same fleet
#   scripts/simulate-bench.sh examples/scenarios/rollout.yaml
# The report goes to a temporary directory (removed afterwards); the summary is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-examples/scenarios/fleet-1000.yaml}"
[ -f "$scenario" ] || { echo "no such scenario: $scenario" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo build -q -p fleetward
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run="$scenario"
if [ -n "${DURATION:-}" ]; then
    # Same fleet, shorter run: the copy sits beside the original so relative module paths resolve.
    run="$(dirname "$scenario")/.bench-$(basename "$scenario")"
    trap 'rm -rf "$work" "$run"' EXIT
    sed "s/^duration: .*/duration: ${DURATION}/" "$scenario" > "$run"
fi
/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
    target/debug/fleetward simulate "$run" --out "$work/report" > "$work/summary.txt" || status=$?
cat "$work/summary.txt"
# /usr/bin/time puts "Command exited with non-zero status N" first when simulate fails.
read -r wall user sys rss < <(tail -n 1 "$work/time")
cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
echo "simulate $(basename "$scenario")${DURATION:+ (duration ${DURATION})}: wall ${wall} s, CPU ${cpu} s (user ${user} s, sys ${sys} s), peak RSS $((rss / 1024)) MiB, load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "${status:-0}"
