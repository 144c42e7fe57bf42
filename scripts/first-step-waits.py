#!/usr/bin/env python3
"""Per tenant: seconds from a version bump to its first upgrade step, from a `fleetward simulate`
output directory (spans.json). Prints the waits, their mean and max, and the busy time.

The bump is the earliest `requested_at` of any cluster (the simulation applies a setVersion to
all clusters within about a minute). Used for docs/performance.md "Tenant fairness (issue #15)".

    python3 scripts/first-step-waits.py reports/fair-share
"""
import json
import sys

spans = json.load(open(sys.argv[1] + "/spans.json"))
bump = min(c["requested_at"] for c in spans if c.get("requested_at") is not None)
first, done = {}, {}
steps = []
for c in spans:
    t = c["tenant"]
    for s in c["spans"]:
        if s["kind"]["kind"] in ("control_plane", "pool"):
            first[t] = min(first.get(t, s["start"]), s["start"])
            steps.append((s["start"], s["end"]))
    if c.get("completed_at"):
        done[t] = max(done.get(t, 0), c["completed_at"] - bump)
waits = {t: first[t] - bump for t in sorted(first)}
mean = sum(waits.values()) / len(waits)
worst = max(waits, key=waits.get)
print("first-step wait (s):", " ".join(f"{t}={w}" for t, w in waits.items()))
print(f"tenants {len(waits)}: max {waits[worst]} s ({worst}), mean {mean:.0f} s, "
      f"max/mean {waits[worst] / mean if mean else float('inf'):.2f}")
if done:
    print(f"tenant done after the bump: first {min(done.values()) / 60:.0f} min, "
          f"last {max(done.values()) / 60:.0f} min")
edges = sorted([(a, 1) for a, _ in steps] + [(b, -1) for _, b in steps], key=lambda e: (e[0], e[1]))
area = cur = 0
last = edges[0][0]
for t, d in edges:
    area += cur * (t - last)
    last = t
    cur += d
print(f"steps {len(steps)}, mean in flight {area / (last - edges[0][0]):.2f}")
