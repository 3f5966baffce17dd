from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.report import collect_report
from lockgate.report.links import has_relative_links

HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "val_accuracy": 0.5},
    {"epoch": 2, "train_loss": 0.5, "val_loss": 0.55, "val_accuracy": 0.75},
]


def make_run(tmp_path: Path, ci_layout: bool = False, curve: str = "training-curve.png") -> Path:
    """A run folder: local runs keep <stage>/out/, CI artifacts are exported as <stage>/."""
    run = tmp_path / "run"
    train = run / "train" if ci_layout else run / "train" / "out"
    evaluate = run / "evaluate" if ci_layout else run / "evaluate" / "out"
    train.mkdir(parents=True)
    (train / "report.md").write_text(
        f"## Training\n\n![training curve]({curve})\n"
        "[card](model/model-card.json) and [docs](https://example.org/x.png) "
        "![abs](/srv/plot.png) [anchor](#top)\n"
    )
    (train / "history.json").write_text(json.dumps(HISTORY))
    evaluate.mkdir(parents=True)
    (evaluate / "metrics.json").write_text(json.dumps({"accuracy": 0.912345, "verdict": "pass"}))
    return run


def test_collects_reports_metrics_and_missing_stages_in_order(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    text = collect_report(run, ["train", "evaluate", "package"])
    assert text.index("### train") < text.index("### evaluate") < text.index("### package")
    assert "(https://example.org/x.png)" in text
    assert "(/srv/plot.png)" in text and "(#top)" in text
    assert "| accuracy | 0.9123 |" in text and "| verdict | pass |" in text
    assert "_no output (stage not run or skipped)_" in text


@pytest.mark.parametrize("curve", ["training-curve.svg", "training-curve.png"])  # now, before
def test_no_relative_link_survives_and_the_curve_is_drawn_inline(
    tmp_path: Path, curve: str
) -> None:
    for ci_layout in (False, True):
        run = make_run(tmp_path / str(ci_layout), ci_layout, curve)
        text = collect_report(run, ["train", "evaluate"])
        assert not has_relative_links(text), text
        assert "```mermaid\nxychart-beta" in text
        assert 'x-axis "epoch" [1, 2]' in text and "line [0.9, 0.5]" in text
        assert "card (`model/model-card.json` in the train stage's outputs)" in text
        assert "| accuracy | 0.9123 |" in text


def test_artifact_url_makes_links_absolute_for_either_layout(tmp_path: Path) -> None:
    base = "https://ci.example.org/jobs/7/artifacts/raw/runs"
    local = collect_report(make_run(tmp_path / "a"), ["train"], artifact_url=base + "/")
    assert f"![training curve]({base}/train/out/training-curve.png)" in local
    assert f"[card]({base}/train/out/model/model-card.json)" in local
    ci = collect_report(make_run(tmp_path / "b", ci_layout=True), ["train"], artifact_url=base)
    assert f"![training curve]({base}/train/training-curve.png)" in ci
    assert not has_relative_links(local) and not has_relative_links(ci)


def test_cap_truncates_the_long_section_with_a_notice(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    long = "\n".join(f"| row {i} | {'x' * 80} |" for i in range(3000))  # ~270 kB
    (run / "evaluate" / "out" / "report.md").write_text("## Evaluation\n" + long + "\n")
    text = collect_report(run, ["train", "evaluate"], max_chars=65536)
    assert len(text) <= 65536
    assert "```mermaid" in text  # short section kept
    assert "evaluate: truncated (" in text
    assert "full text in evaluate/out/report.md" in text
    assert len(text) > 60000  # the budget is used, not wasted
