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

    # a run cut short is finished into the same folder: what it has is kept, the rest replaced
    again = subprocess.run(
        [*argv, "--pipelines", "tabular-mlp", "--runs", "off:cuda-graph"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = json.loads((tmp_path / "gpu_check.json").read_text())
    kinds = [r["what"] for r in after]
    assert kinds.count("environment") == 1 and kinds.count("plain-pytorch-loop") == 1
    assert kinds.count("lockgate-stage") == 2 and kinds.count("ratio") == 2
    assert stages[0] in after, "the run not measured again is kept as it was"
    (graph_again,) = [r for r in after if r.get("capture_setting") == "cuda-graph"]
    assert graph_again["global_step"] == 2
    assert graph_again["started_at"] > stages[1]["started_at"], "measured again"


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


def test_rows_from_another_device_or_size_are_not_mixed_in(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    env = {"what": "environment", "device": "NVIDIA H200", "torch": "2.11.0", "rows": 262144}
    env |= {"epochs": 20, "batch_size": 4096}
    stage = {"what": "lockgate-stage", "pipeline": "digits-cnn", "rc": 0}
    rows = [
        env,
        {"what": "data", "pipeline": "digits-cnn"},
        stage | {"amp_setting": "off", "capture_setting": "off"},
        stage | {"amp_setting": "bf16", "capture_setting": "off"},
        {"what": "plain-pytorch-loop", "pipeline": "digits-cnn", "amp": "bf16"},
        {"what": "ratio", "pipeline": "digits-cnn", "amp": "off", "capture": "off"},
    ]
    sink = tmp_path / "gpu_check.json"
    sink.write_text(json.dumps(rows))
    kept = gpu_check.earlier_rows(sink, env, ["tabular-mlp"], [("off", "off")])
    assert kept == rows[1:5], "another pipeline measured: every row but the ratio is kept"
    kept = gpu_check.earlier_rows(sink, env, ["digits-cnn"], [("off", "off")])
    assert kept == [rows[3], rows[4]], "its stage row and its data go; bf16's rows stay"
    for changed in ({"device": "NVIDIA H100"}, {"rows": 8192}, {"torch": "2.12.0"}):
        assert gpu_check.earlier_rows(sink, env | changed, ["digits-cnn"], []) == []
    assert gpu_check.earlier_rows(tmp_path / "none.json", env, ["digits-cnn"], []) == []
