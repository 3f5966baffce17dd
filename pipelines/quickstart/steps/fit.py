"""Least-squares line through the features: a stand-in for training."""

import json
import os

with open(os.path.join(os.environ["LOCKGATE_IN"], "features", "features.csv")) as f:
    points = [tuple(map(float, line.split(","))) for line in f.read().splitlines()[1:]]
n = len(points)
mx = sum(x for x, _ in points) / n
my = sum(y for _, y in points) / n
slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
intercept = my - slope * mx
rmse = (sum((y - (slope * x + intercept)) ** 2 for x, y in points) / n) ** 0.5
out = os.environ["LOCKGATE_OUT"]
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({"slope": round(slope, 6), "intercept": round(intercept, 6)}, f, sort_keys=True)
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump({"rmse": round(rmse, 6), "rows": n}, f, sort_keys=True)
print(f"fit: rmse={rmse:.4f}")
