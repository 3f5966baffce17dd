"""The served model: the trained MLP's weights, evaluated in plain Python (no torch in the
serving image, so it stays small to push, scan and start). ``build(model_dir)`` is the serving
entrypoint of lockgate's ``python`` flavor and returns ``predict(rows) -> labels``.

``serve_delay_ms`` (a train param, recorded with the run) waits that long per call: it stands in
for a slow step at inference time, such as a remote feature lookup, that offline evaluation
does not time and a canary's latency analysis does. The committed pipeline sets it to 0."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def forward(layers: list[dict[str, Any]], row: list[float]) -> int:
    x = row
    for i, layer in enumerate(layers):
        x = [sum(w * v for w, v in zip(ws, x, strict=True)) + b
             for ws, b in zip(layer["w"], layer["b"], strict=True)]  # fmt: skip
        if i < len(layers) - 1:
            x = [v if v > 0.0 else 0.0 for v in x]
    return max(range(len(x)), key=x.__getitem__)


def build(model_dir: Path) -> Any:
    spec = json.loads((Path(model_dir) / "mlp.json").read_text())
    layers, delay_s = spec["layers"], float(spec.get("serve_delay_ms", 0)) / 1000.0

    def predict(rows: list[list[float]]) -> list[int]:
        if delay_s:
            time.sleep(delay_s)
        return [forward(layers, row) for row in rows]

    return predict
