"""Merge the CSV partitions under data/ into one table, in a stable order."""

import csv
import glob
import os

out = os.path.join(os.environ["LOCKGATE_OUT"], "rows.csv")
rows = []
for path in sorted(glob.glob("data/*.csv")):
    with open(path, newline="") as f:
        rows += list(csv.DictReader(f))
with open(out, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["size", "rooms", "price"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
print(f"prepared {len(rows)} rows")
