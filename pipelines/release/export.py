"""Export the trained MLP for serving: its Linear layers' weights as JSON, a model card of
lockgate's ``python`` flavor (entrypoint ``mlp_serving:build``), the model version evaluate
registered, and the training run. Before writing anything it checks that the pure-Python model
answers exactly as the torch model on the whole test split, so what is served is what was
evaluated."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch
from mlp_serving import forward


def main() -> int:
    inputs, out = Path(os.environ["LOCKGATE_IN"]), Path(os.environ["LOCKGATE_OUT"])
    trained = inputs / "train" / "model"
    card = json.loads((trained / "model-card.json").read_text())
    state = torch.load(trained / "state_dict.pt", weights_only=True)
    names = sorted({k.rsplit(".", 1)[0] for k in state if k.endswith(".weight")},
                   key=lambda n: [int(p) if p.isdigit() else p for p in n.split(".")])  # fmt: skip
    layers = [{"w": state[f"{n}.weight"].tolist(), "b": state[f"{n}.bias"].tolist()} for n in names]

    test = pd.read_parquet(inputs / "prepare" / "test.parquet")
    rows = test.drop(columns=["label"]).to_numpy(dtype="float32")
    with torch.no_grad():
        x = torch.from_numpy(rows.copy())
        for i, layer in enumerate(layers):
            x = x @ torch.tensor(layer["w"]).T + torch.tensor(layer["b"])
            x = torch.relu(x) if i < len(layers) - 1 else x
    expected = x.argmax(dim=1).tolist()
    got = [forward(layers, [float(v) for v in row]) for row in rows]
    differ = sum(a != b for a, b in zip(expected, got, strict=True))
    if differ:
        print(f"export: the pure-Python model differs from torch on {differ} test rows")
        return 1

    version = json.loads((inputs / "evaluate" / "metrics.json").read_text())["registered_version"]
    params = card.get("params") or {}
    model = out / "model"
    model.mkdir(parents=True)
    (model / "mlp.json").write_text(
        json.dumps({"layers": layers, "serve_delay_ms": params.get("serve_delay_ms", 0)})
    )
    (model / "model-card.json").write_text(json.dumps({
        "flavor": "python", "entrypoint": "mlp_serving:build", "version": str(version),
        "n_features": len(card["feature_names"]), "n_classes": card.get("n_classes", 2),
        "feature_names": card["feature_names"], "params": params,
    }, indent=2))  # fmt: skip
    shutil.copy(inputs / "train" / "train-run.json", out / "train-run.json")
    print(f"export: {len(layers)} layers, model version {version}, "
          f"identical to torch on {len(got)} test rows")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
