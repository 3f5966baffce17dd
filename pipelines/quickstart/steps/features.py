"""Scale the feature columns (the SCALE env picks how)."""

import csv
import os

scale = os.environ.get("SCALE", "minmax")
with open(os.path.join(os.environ["LOCKGATE_IN"], "prepare", "rows.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
sizes = [float(r["size"]) for r in rows]
lo, hi = min(sizes), max(sizes)
with open(os.path.join(os.environ["LOCKGATE_OUT"], "features.csv"), "w") as f:
    f.write("x,y\n")
    for r, s in zip(rows, sizes, strict=True):
        x = (s - lo) / (hi - lo) if scale == "minmax" else s
        f.write(f"{x:.6f},{float(r['price']):.6f}\n")
print(f"scaled {len(rows)} rows with {scale}")
