"""Per-column summary statistics of the prepared table."""

import csv
import json
import os

with open(os.path.join(os.environ["LOCKGATE_IN"], "prepare", "rows.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
stats = {}
for column in ("size", "rooms", "price"):
    values = [float(r[column]) for r in rows]
    stats[column] = {
        "min": min(values),
        "max": max(values),
        "mean": round(sum(values) / len(values), 6),
    }
with open(os.path.join(os.environ["LOCKGATE_OUT"], "stats.json"), "w") as f:
    json.dump(stats, f, indent=2, sort_keys=True)
print(f"stats for {len(stats)} columns")
