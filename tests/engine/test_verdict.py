from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.engine.executor import ExecOutcome
from lockgate.engine.stagespec import ImageRecipe, StageSpec
from lockgate.engine.verdict import Verdict, judge, lay_out

SPEC = StageSpec(
    name="train",
    image=ImageRecipe(digest="sha256:00", tag="t"),
    argv=("true",),
    outputs=("model/*.pt",),
    timeout=30,
)


@pytest.mark.parametrize(
    ("outcome", "cancelled", "expected"),
    [
        (ExecOutcome(0, interrupted=True), False, Verdict("interrupted", "interrupted")),
        (ExecOutcome(0), True, Verdict("interrupted", "interrupted")),
        (ExecOutcome(3), False, Verdict("failed", "exit code 3", 3)),
        (ExecOutcome(124, timed_out=True), False, Verdict("failed", "timed out after 30s", 124)),
        (
            ExecOutcome(0),
            False,
            Verdict("failed", "declared output 'model/*.pt' was not written", 0),
        ),
    ],
)
def test_judge_names_why_a_stage_did_not_succeed(
    tmp_path: Path, outcome: ExecOutcome, cancelled: bool, expected: Verdict
) -> None:
    assert judge(SPEC, outcome, cancelled=cancelled, out=tmp_path) == expected


def test_judge_accepts_a_clean_exit_with_its_outputs(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.pt").write_bytes(b"w")
    assert judge(SPEC, ExecOutcome(0), cancelled=False, out=tmp_path) == Verdict("ok", "", 0)


def test_lay_out_links_upstream_outputs_and_makes_caches(tmp_path: Path) -> None:
    upstream = tmp_path / "runs" / "prepare" / "out"
    upstream.mkdir(parents=True)
    (upstream / "data.csv").write_text("x\n")
    caches = {"pip": tmp_path / "caches" / "pip"}
    in_dir = lay_out(tmp_path / "train", {"prepare": upstream}, caches, tmp_path / "state")
    assert in_dir == tmp_path / "train" / "in"
    assert (in_dir / "prepare" / "data.csv").read_text() == "x\n"
    assert caches["pip"].is_dir() and (tmp_path / "state").is_dir()
