from __future__ import annotations

import json
from pathlib import Path

from lockgate.report import collect_report


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "train" / "out").mkdir(parents=True)
    (run / "train" / "out" / "report.md").write_text(
        "## Training\n\n![training curve](training-curve.png)\n"
        "[card](model/model-card.json) and [docs](https://example.org/x.png) "
        "![abs](/srv/plot.png) [anchor](#top)\n"
    )
    (run / "evaluate" / "out").mkdir(parents=True)
    (run / "evaluate" / "out" / "metrics.json").write_text(
        json.dumps({"accuracy": 0.912345, "verdict": "pass"})
    )
    return run


def test_collects_reports_metrics_and_missing_stages_in_order(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    text = collect_report(run, ["train", "evaluate", "package"])
    assert text.index("### train") < text.index("### evaluate") < text.index("### package")
    assert "![training curve](train/out/training-curve.png)" in text
    assert "[card](train/out/model/model-card.json)" in text
    assert "(https://example.org/x.png)" in text
    assert "(/srv/plot.png)" in text and "(#top)" in text
    assert "| accuracy | 0.9123 |" in text and "| verdict | pass |" in text
    assert "_no output (stage not run or skipped)_" in text


def test_cap_truncates_the_long_section_with_a_notice(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    long = "\n".join(f"| row {i} | {'x' * 80} |" for i in range(3000))  # ~270 kB
    (run / "evaluate" / "out" / "report.md").write_text("## Evaluation\n" + long + "\n")
    text = collect_report(run, ["train", "evaluate"], max_chars=65536)
    assert len(text) <= 65536
    assert "![training curve](train/out/training-curve.png)" in text  # short section kept
    assert "evaluate: truncated (" in text
    assert "full text in evaluate/out/report.md" in text
    assert len(text) > 60000  # the budget is used, not wasted
