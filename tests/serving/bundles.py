"""Model bundles for serving tests: a pure-Python classifier and a tiny real torch model."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from lockgate.serving.manifest import ServingManifest

LINEAR_CODE = textwrap.dedent(
    """\
    import json
    import time


    def build(model_dir):
        spec = json.loads((model_dir / "weights.json").read_text())
        w, b, delay = spec["w"], spec["b"], spec.get("delay", 0.0)

        def predict(rows):
            if delay:
                time.sleep(delay)
            if any(row[0] == 13 for row in rows):
                raise RuntimeError("unlucky row")
            return ["yes" if sum(x * y for x, y in zip(row, w)) > b else "no" for row in rows]

        return predict
    """
)

TORCH_CODE = textwrap.dedent(
    """\
    import torch


    def build(ctx):
        hidden = ctx.param("hidden", 8)
        return torch.nn.Sequential(
            torch.nn.Linear(ctx.data.n_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, ctx.data.n_classes),
        )
    """
)


def python_bundle(root: Path, *, delay: float = 0.0, version: str = "1") -> Path:
    """A bundle folder the server loads directly: label 'yes' when x0 + x1 > 1."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "code").mkdir(exist_ok=True)
    (root / "code" / "linear_rule.py").write_text(LINEAR_CODE)
    (root / "weights.json").write_text(json.dumps({"w": [1.0, 1.0], "b": 1.0, "delay": delay}))
    ServingManifest(
        flavor="python",
        entrypoint="linear_rule:build",
        name="rule",
        version=version,
        run_id="run-123",
        n_features=2,
        labels=("no", "yes"),
    ).write(root)
    return root


def python_train_output(out: Path, *, delay: float = 0.0) -> Path:
    """What a train-like stage leaves: model/ with the model card, plus train-run.json; the
    entrypoint's code lives in the workspace."""
    model = out / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "weights.json").write_text(json.dumps({"w": [1.0, 1.0], "b": 1.0, "delay": delay}))
    (model / "model-card.json").write_text(
        json.dumps(
            {
                "entrypoint": "linear_rule:build",
                "flavor": "python",
                "n_features": 2,
                "n_classes": 2,
                "labels": ["no", "yes"],
            }
        )
    )
    (out / "train-run.json").write_text(json.dumps({"mlflow_run_id": "abc123def"}))
    return model


def torch_train_output(out: Path, workspace: Path, seed: int = 0) -> Path:
    """A real train-stage-shaped output: model/state_dict.pt + model-card.json naming the
    entrypoint in the workspace, and train-run.json; the weights are a tiny trained MLP."""
    import torch

    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "tiny_net.py").write_text(TORCH_CODE)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = torch.rand(256, 2) * 4 - 2
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 0, 1 or 2 positive coordinates
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    model = out / "model"
    model.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), model / "state_dict.pt")
    card = {
        "entrypoint": "tiny_net:build",
        "model_class": "Sequential",
        "n_features": 2,
        "n_classes": 3,
        "feature_names": ["a", "b"],
        "params": {"hidden": 8},
        "seed": seed,
    }
    (model / "model-card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (out / "train-run.json").write_text(json.dumps({"mlflow_run_id": "0f1e2d3c4b5a"}))
    return model
