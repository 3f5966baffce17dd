"""What the train stage leaves in ``LOCKGATE_OUT``.

``model/state_dict.pt`` and ``model/model-card.json``, ``metrics.json`` (flat), ``history.json``
(per-epoch rows, read by the evaluate report), ``train-run.json`` (the MLflow run, model URI and
data digest that evaluate registers), ``report.md`` with ``training-curve.svg``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.engine.stage_env import without_userinfo
from lockgate.stages.train.curves import CURVE, plot_history


def strict(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None (null): JSON has no NaN, and a
    strict parser refuses the bare ``NaN`` Python's json module would write."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json(path: Path, value: Any) -> None:
    """Write strict JSON atomically: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(strict(value), fh, indent=2, sort_keys=True, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class TrainSummary:
    """Everything the outputs are written from."""

    entrypoint: str
    model_class: str
    n_parameters: int
    device: str
    amp: str
    amp_note: str
    data_placement: str
    seed: int
    deterministic: bool
    params: Mapping[str, Any]
    data_digest: str
    valid_digest: str | None
    n_features: int
    n_classes: int
    feature_names: Sequence[str]
    history: Sequence[dict[str, float]]
    final_metrics: Mapping[str, float]
    samples_per_s: float
    global_step: int
    resumed_from_step: int | None
    checkpoint_dir: str
    git_sha: str
    image_digest: str
    mlflow_run_id: str | None
    model_uri: str | None
    tracking_uri: str | None
    capture: str = "capture off"  # how the steps ran, with the reason for any fallback
    peak_gpu_memory_mib: float | None = None  # torch's peak allocation, on CUDA only
    capture_seconds: float = 0.0  # compiling the step or capturing its graph, once


def write_outputs(out: Path, summary: TrainSummary, model: Any) -> None:
    import torch

    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), model_dir / "state_dict.pt")
    write_json(
        model_dir / "model-card.json",
        {
            "entrypoint": summary.entrypoint,
            "model_class": summary.model_class,
            "n_parameters": summary.n_parameters,
            "n_features": summary.n_features,
            "n_classes": summary.n_classes,
            "feature_names": list(summary.feature_names),
            "params": dict(summary.params),
            "seed": summary.seed,
            "amp": summary.amp,
            "data_digest": summary.data_digest,
            "metrics": dict(summary.final_metrics),
            "git_sha": summary.git_sha,
            "image_digest": summary.image_digest,
            "model_uri": summary.model_uri,
        },
    )
    metrics = {
        **summary.final_metrics,
        "samples_per_s": round(summary.samples_per_s, 1),
        "global_step": summary.global_step,
        "amp": summary.amp,
        "capture": summary.capture,
    }
    if summary.peak_gpu_memory_mib is not None:
        metrics["peak_gpu_memory_mib"] = summary.peak_gpu_memory_mib
    if summary.capture_seconds > 0:
        metrics["capture_seconds"] = round(summary.capture_seconds, 2)
    write_json(out / "metrics.json", metrics)
    write_json(out / "history.json", list(summary.history))
    write_json(
        out / "train-run.json",
        {
            "mlflow_run_id": summary.mlflow_run_id,
            "model_uri": summary.model_uri,
            # where the run went, without a user or password the URL may carry (evaluate
            # takes them back from the job's MLFLOW_TRACKING_URI: TrackingStore.recorded)
            "tracking_uri": without_userinfo(summary.tracking_uri)
            if summary.tracking_uri
            else None,
            "data_digest": summary.data_digest,
            "valid_digest": summary.valid_digest,
            "git_sha": summary.git_sha,
            "image_digest": summary.image_digest,
            "n_classes": summary.n_classes,
            "feature_names": list(summary.feature_names),
            "entrypoint": summary.entrypoint,
            "resumed_from_step": summary.resumed_from_step,
            "checkpoint_dir": summary.checkpoint_dir,
        },
    )
    curve = plot_history(summary.history, out / CURVE)
    (out / "report.md").write_text(render_report(summary, curve is not None))


def render_report(s: TrainSummary, has_curve: bool) -> str:
    lines = ["## Training", ""]
    lines.append(
        f"`{s.entrypoint}` → `{s.model_class}` ({s.n_parameters:,} parameters), "
        f"{s.global_step} steps on `{s.device}`, amp `{s.amp}`, data {s.data_placement}."
    )
    if s.amp_note:
        lines.append(f"\n{s.amp_note}.")
    lines.append(f"\nSteps: {s.capture}.")
    if s.capture_seconds > 0:
        lines.append(
            f"\nCompiling or capturing the step took {s.capture_seconds:,.1f} s, once; "
            "samples/s leaves it out."
        )
    if s.resumed_from_step is not None:
        lines.append(f"\nResumed from the checkpoint at step {s.resumed_from_step}.")
    lines += ["", "| metric | value |", "|---|---|"]
    for key, value in s.final_metrics.items():
        lines.append(f"| {key} | {value:.4g} |")
    lines.append(f"| samples/s (train) | {s.samples_per_s:,.0f} |")
    if s.peak_gpu_memory_mib is not None:
        lines.append(f"| peak GPU memory | {s.peak_gpu_memory_mib:,.1f} MiB |")
    if has_curve:
        lines += ["", f"![training curve]({CURVE})"]
    lines += [
        "",
        f"Data `{s.data_digest}`; seed {s.seed}"
        + (", deterministic" if s.deterministic else "")
        + ".",
    ]
    if s.mlflow_run_id:
        lines.append(f"MLflow run `{s.mlflow_run_id}`, model `{s.model_uri}`.")
    return "\n".join(lines) + "\n"
