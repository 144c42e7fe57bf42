#!/usr/bin/env python3
"""Per tenant: seconds from a version bump to its first upgrade step, from a `fleetward simulate`
output directory (spans.json). Prints the waits, their mean and max, and the busy time.

Two clocks: from the fleet's bump (the earliest `requested_at` of any cluster) and from the
tenant's own bump (the earliest `requested_at` of its clusters). The simulation applies a
setVersion one cluster per virtual second in name order, so at 500 clusters the last tenant's
clusters see the bump ~8 minutes after the first tenant's: the first clock includes that
spacing, the second measures only the controller. Used for docs/performance.md "Tenant fairness
(issue #15)".

    python3 scripts/first-step-waits.py reports/fair-share
"""
import json
import sys

spans = json.load(open(sys.argv[1] + "/spans.json"))
bump = min(c["requested_at"] for c in spans if c.get("requested_at") is not None)
first, done, own = {}, {}, {}
steps = []
for c in spans:
    t = c["tenant"]
    if c.get("requested_at") is not None:
        own[t] = min(own.get(t, c["requested_at"]), c["requested_at"])
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
own_waits = {t: first[t] - own[t] for t in sorted(first)}
own_mean = sum(own_waits.values()) / len(own_waits)
own_worst = max(own_waits, key=own_waits.get)
print("from the tenant's own bump (s):", " ".join(f"{t}={w}" for t, w in own_waits.items()))
print(f"tenants {len(own_waits)}: max {own_waits[own_worst]} s ({own_worst}), mean {own_mean:.0f} s, "
      f"max/mean {own_waits[own_worst] / own_mean if own_mean else float('inf'):.2f}")
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
