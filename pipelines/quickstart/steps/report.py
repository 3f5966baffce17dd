"""Fan-in: a Markdown report of stats and fit, signed with the secret key (HMAC-SHA256)."""

import hashlib
import hmac
import json
import os

inp, out = os.environ["LOCKGATE_IN"], os.environ["LOCKGATE_OUT"]
with open(os.path.join(inp, "stats", "stats.json")) as f:
    stats = json.load(f)
with open(os.path.join(inp, "fit", "metrics.json")) as f:
    metrics = json.load(f)
lines = ["## quickstart", "", "| column | min | max | mean |", "|---|---|---|---|"]
lines += [f"| {c} | {s['min']} | {s['max']} | {s['mean']} |" for c, s in sorted(stats.items())]
lines += ["", f"fit RMSE: **{metrics['rmse']}** on {metrics['rows']} rows", ""]
report = "\n".join(lines)
with open(os.path.join(out, "report.md"), "w") as f:
    f.write(report)
with open(os.path.join(os.environ["LOCKGATE_SECRETS"], "signing_key")) as f:
    key = f.read().encode()
with open(os.path.join(out, "report.sig"), "w") as f:
    f.write(hmac.new(key, report.encode(), hashlib.sha256).hexdigest() + "\n")
print("report written and signed")
