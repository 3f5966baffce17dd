"""The train stage reads a sealed upstream output in place, through the real CLI, the local
executor, pyarrow and PyTorch: with ``encryption:`` set and its upstream a sealed cache hit, the
stage is handed the sealed folder itself (no plaintext copy is opened for it), trains on the
same rows with the same data digest as from plain files, and a flipped byte in the sealed file
stops it with one line naming the file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tests.projects import CliResult, last_record, lockgate, states, write_project

KEY = "6c6f636b676174652d746573742d6b65792d3332627974657321212121212121"
SPEC = """\
version: 1
name: sealed-train
image: {base: lockgate/debian:bookworm}
secrets:
  data-key: {file: keys/data.key}
encryption: {key: data-key}
stages:
  prepare:
    run: [python3, prepare.py]
    inputs: [prepare.py]
  train:
    uses: lockgate/train
    needs: [prepare]
    inputs: [model.py]
    with:
      entrypoint: "model:build"
      data: {train: in:prepare/train.parquet, target: label}
      epochs: 1
      batch_size: 64
      seed: 1
"""
PREPARE = """\
import os
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

rng = np.random.default_rng(0)
x = rng.normal(size=(400, 3)).astype("float32")
label = (x[:, 0] > 0).astype("int64")
table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": label})
pq.write_table(table, os.path.join(os.environ["LOCKGATE_OUT"], "train.parquet"))
"""
MODEL = """\
import os
from pathlib import Path


def build(ctx):
    from torch import nn

    from lockgate.stages.train import TrainPlan

    upstream = Path(os.environ["LOCKGATE_IN"]) / "prepare"
    print("upstream-sealed:", (upstream / ".lockgate-sealed").is_file(), flush=True)
    print("data:", ctx.data.n_samples, ctx.data.digest, flush=True)
    return TrainPlan(model=nn.Linear(ctx.data.n_features, ctx.data.n_classes))
"""


def _run(root: Path) -> CliResult:
    return lockgate("run", "--executor", "local", cwd=root)


def _log(root: Path) -> str:
    shown = lockgate("log", "train", cwd=root)
    assert shown.code == 0, shown.stderr
    return shown.stdout


def _seed(root: Path, seed: int) -> None:
    spec = root / "lockgate.yaml"
    spec.write_text(re.sub(r"seed: \d+", f"seed: {seed}", spec.read_text()))


def test_train_reads_a_sealed_hit_in_place(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        SPEC,
        {"prepare.py": PREPARE, "model.py": MODEL, "keys/data.key": KEY + "\n"},
    )
    first = _run(root)
    assert first.code == 0, first.stderr
    assert states(last_record(root)) == {"prepare": "ok", "train": "ok"}
    plain_log = _log(root)
    assert "upstream-sealed: False" in plain_log  # prepare just ran: its plain out/

    _seed(root, 2)
    second = _run(root)
    assert second.code == 0, second.stderr
    record = last_record(root)
    assert states(record) == {"prepare": "cached", "train": "ok"}
    sealed_log = _log(root)
    assert "upstream-sealed: True" in sealed_log  # handed the sealed cache entry itself
    run_dir = root / ".lockgate" / "runs" / record["run_id"]
    assert (run_dir / "train").is_dir()
    assert not (run_dir / "prepare").exists()  # nothing was opened into the run folder

    # the same rows and the same data digest as from the plain file: the plaintext's sha256
    entry = next(
        meta.parent
        for meta in (root / ".lockgate" / "cache").glob("*/entry.json")
        if json.loads(meta.read_text())["stage"] == "prepare"
    )
    from lockgate.engine.sealed_view import SealedFolder
    from lockgate.engine.sealing import Sealer

    view = SealedFolder(entry / "out", Sealer.from_key(bytes.fromhex(KEY)), stage="prepare")
    with view.open("train.parquet") as f:
        plain_sha = hashlib.sha256(f.read()).hexdigest()
    line = f"data: 400 sha256:{plain_sha}"
    assert line in plain_log, plain_log
    assert line in sealed_log, sealed_log

    sealed = entry / "out" / "train.parquet"
    raw = bytearray(sealed.read_bytes())
    raw[len(raw) // 2] ^= 1
    sealed.write_bytes(bytes(raw))
    _seed(root, 3)
    third = _run(root)
    assert third.code != 0
    assert states(last_record(root)) == {"prepare": "cached", "train": "failed"}
    shown = third.stdout + third.stderr
    assert "train.parquet: authentication failed" in shown, shown
    assert "Traceback" not in shown
