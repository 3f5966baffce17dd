"""benchmarks/train/gpu_check.py, the one script a GPU machine runs, runs here first: a small
subset on the CPU (where ``cuda-graph`` falls back to eager and says why), writing the rows and
ratios the GPU run writes. Rates on a CPU with a few hundred rows mean nothing and are not
checked; what is checked is that every row the result tables read is there and well formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "train" / "gpu_check.py"


def test_a_subset_runs_and_writes_every_row_the_tables_read(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the train stage needs torch (the suite installs it)")
    runs = ["off:off", "off:cuda-graph"]
    argv = [sys.executable, str(SCRIPT), str(tmp_path), "--rows", "512", "--epochs", "2"]
    done = subprocess.run(
        [*argv, "--pipelines", "tabular-mlp", "--runs", *runs],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [r["what"] for r in rows[:2]] == ["environment", "data"]
    stages = [r for r in rows if r["what"] == "lockgate-stage"]
    assert [(r["amp_setting"], r["capture_setting"], r["rc"]) for r in stages] == [
        ("off", "off", 0),
        ("off", "cuda-graph", 0),
    ]
    for r in stages:
        assert r["samples_per_s"] > 0 and r["global_step"] == 2 and r["process_wall_s"] > 0
    graph = stages[1]["capture"]
    assert graph.startswith("capture cuda-graph")
    if rows[0]["device"] == "cpu":
        assert graph == "capture cuda-graph -> off: no CUDA device here"
    (plain,) = [r for r in rows if r["what"] == "plain-pytorch-loop"]
    assert plain["amp"] == "off" and plain["process_wall_s"] > 0, "only the precision named"
    ratios = {r["capture"]: r for r in rows if r["what"] == "ratio"}
    assert sorted(ratios) == ["cuda-graph", "off"]
    for r in ratios.values():
        assert r["stage_over_plain"] > 0 and r["process_wall_stage_over_plain"] > 0


def test_a_run_it_does_not_know_is_refused_before_torch_loads(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--runs", "fp8:off"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "'fp8:off': write AMP:CAPTURE, AMP one of off, bf16, auto" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "gpu_check.json").exists()
