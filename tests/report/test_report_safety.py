"""What a stage wrote stays inside its own section of the report: a pull request's code writes
``report.md`` and ``metrics.json``, and the report goes out under the project's token. Also the
run's own story (failed, skipped, cached stages) and outputs that are not UTF-8."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from lockgate.report import collect_report

ZWSP = "\u200b"  # what follows the @ of a defused mention

HOSTILE = """## Results
<!-- everything after this is hidden
<img src="https://evil.example/pixel.png">
<a href="https://evil.example">details</a>
cc @acme/release-managers and @lena, mail me at ops@acme.example
![all green](https://evil.example/green.png)
</details>
<details><summary>kept</summary>

inside
`<b>in code</b>` stays as written
```python
print("an unclosed fence")
"""


def make_run(tmp_path: Path, report: str) -> Path:
    run = tmp_path / "in"
    (run / "train").mkdir(parents=True)
    (run / "train" / "report.md").write_text(report)
    (run / "evaluate").mkdir(parents=True)
    (run / "evaluate" / "metrics.json").write_text(json.dumps({"verdict": "fail"}))
    return run


def test_a_stage_cannot_reach_past_its_section(tmp_path: Path) -> None:
    text = collect_report(make_run(tmp_path, HOSTILE), ["train", "evaluate"])
    evaluate = text[text.index("### evaluate") :]
    assert "| verdict | fail |" in evaluate
    train = text[: text.index("### evaluate")]
    assert "<!--" not in train and "&lt;!-- everything" in train
    assert "<img" not in train and "<a href" not in train
    assert f"@{ZWSP}acme/release-managers" in train and f"@{ZWSP}lena" in train
    assert "ops@acme.example" in train  # an address is no mention
    assert "![all green](https://evil.example" not in train
    assert "[image: all green](https://evil.example/green.png)" in train
    assert "<details><summary>kept</summary>" in train and "&lt;/details>" in train
    assert "`<b>in code</b>`" in train
    # the fence and the <details> the stage opened are closed before the next section
    assert train.count("```") % 2 == 0
    assert train.rstrip().endswith("</details>")
    assert "\n#### Results" in train  # below the report's own headings


def test_metrics_cannot_break_out_of_the_table(tmp_path: Path) -> None:
    run = make_run(tmp_path, "ok\n")
    (run / "evaluate" / "metrics.json").write_text(
        json.dumps({"acc | 1.0 |\n\n<img src=x>": "a|b\n## fake", "by": "@lena"})
    )
    text = collect_report(run, ["evaluate"])
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[2:] == [
        "| acc \\| 1.0 \\| &lt;img src=x> | a\\|b ## fake |",
        f"| by | @{ZWSP}lena |",
    ]
    assert re.search(r"^## fake", text, re.M) is None


def test_a_cut_inside_a_code_block_closes_it_before_the_notice(tmp_path: Path) -> None:
    long = "```text\n" + "\n".join(f"line {i} {'x' * 60}" for i in range(3000)) + "\n```\n"
    run = make_run(tmp_path, long)
    text = collect_report(run, ["train", "evaluate"], max_chars=20000)
    assert len(text) <= 20000
    train = text[: text.index("### evaluate")]
    notice = train.index("train: truncated (")
    assert train[:notice].count("```") == 2  # opened and closed before the notice
    assert "| verdict | fail |" in text


def test_outputs_that_are_not_utf8_are_shown_not_crashed_on(tmp_path: Path) -> None:
    run = make_run(tmp_path, "ok\n")
    (run / "train" / "report.md").write_bytes(b"accuracy \xff\xfe up\n")
    (run / "evaluate" / "metrics.json").write_bytes(b'{"acc": "\xff"}')
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "report", str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy \ufffd\ufffd up" in done.stdout and "| acc | \ufffd |" in done.stdout
    summary = subprocess.run(
        [sys.executable, "-m", "lockgate", "ci", "summary", "train", "--export-dir", str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert summary.returncode == 0, summary.stderr
    assert "accuracy \ufffd\ufffd up" in summary.stdout


def test_failed_skipped_and_cached_stages_are_told_apart(tmp_path: Path) -> None:
    """A local run's record names each stage's state; a cached stage's outputs are in the
    cache, not in the run folder."""
    run = tmp_path / ".lockgate" / "runs" / "r1"
    cache = tmp_path / ".lockgate" / "cache" / "k1" / "out"
    cache.mkdir(parents=True)
    (cache / "report.md").write_text("## Data\n\nrows: 120\n")
    (run / "evaluate" / "out").mkdir(parents=True)
    (run / "evaluate" / "out" / "report.md").write_text("partial\n")
    stages = [
        {"name": "data-check", "state": "cached", "out": str(cache), "reason": ""},
        {"name": "evaluate", "state": "failed", "out": "", "reason": "exit code 1\nmore"},
        {"name": "package", "state": "skipped", "out": "", "reason": "evaluate failed"},
    ]
    (run / "run.json").write_text(json.dumps({"started": 1.0, "stages": stages}))
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "report", str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "### data-check\n\n#### Data\n\nrows: 120" in text
    assert "### evaluate — failed: exit code 1\n\npartial" in text
    assert "### package — skipped: evaluate failed\n\n_no output" in text


def test_a_huge_report_keeps_the_job_summary_under_githubs_limit(tmp_path: Path) -> None:
    """GitHub drops a step's whole summary past 1024 KiB: the summary is cut to fit."""
    run = make_run(tmp_path, "```\n" + "é" * 100 + "\n" + ("row " + "x" * 100 + "\n") * 30000)
    (run / "train" / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "ci", "summary", "train", "--export-dir", str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.encode()) <= 1024 * 1024
    assert "truncated: the whole file is in the stage's outputs (report.md)" in done.stdout
    cut = done.stdout.index("truncated: the whole file")
    assert done.stdout[:cut].count("```") == 2  # the cut code block is closed before the notice
    assert "| accuracy | 0.9 |" in done.stdout


def test_a_history_row_cannot_leave_the_chart(tmp_path: Path) -> None:
    run = make_run(tmp_path, "![curve](training-curve.png)\n")
    rows = [{"epoch": 1, "train_loss": 0.5}, {"epoch": "2]\n```\n<img src=x>", "train_loss": 0.4}]
    (run / "train" / "history.json").write_text(json.dumps(rows))
    text = collect_report(run, ["train"])
    assert 'x-axis "epoch" [1]' in text and "<img" not in text
