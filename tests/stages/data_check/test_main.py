"""The stage entry point: outputs written, exit code, failing checks named on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.stages import BUILTIN_STAGES
from lockgate.stages.data_check import main
from lockgate.stages.data_check.spec import DataCheckConfigError
from tests.stages.data_check.conftest import BASE_WITH, context, make_frame


def _write(workspace: Path) -> None:
    make_frame(2).write_parquet(workspace / "data" / "reference.parquet")
    make_frame(1).head(500).write_parquet(workspace / "data" / "current.parquet")


def test_registered_as_builtin() -> None:
    assert BUILTIN_STAGES["data-check"] == "lockgate.stages.data_check:main"


def test_failed_gate_exits_1_and_names_checks(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(workspace)
    with_ = {
        **BASE_WITH,
        "columns": {**BASE_WITH["columns"], "email": {"pii": True}},
        "freshness": None,
    }
    ctx = context(workspace, with_)
    assert main(ctx) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["FAIL rows_min: value 500, threshold 1000"]
    report = json.loads((ctx.out / "data-check.json").read_text())
    assert report["passed"] is False
    assert report["pii_detected"] == ["email"]
    rows = next(c for c in report["checks"] if c["name"] == "rows_min")
    assert rows == {
        "name": "rows_min",
        "column": None,
        "value": 500,
        "threshold": 1000,
        "verdict": "fail",
        "detail": "",
    }
    metrics = json.loads((ctx.out / "metrics.json").read_text())
    assert metrics["checks_failed"] == 1 and metrics["pii_detected"] == "email"
    assert all(isinstance(v, int | float | str) for v in metrics.values())
    md = (ctx.out / "report.md").read_text()
    assert md.startswith("# Data check: FAILED (1 checks)")
    assert "| rows_min |  | 500 | 1000 | FAIL |" in md
    charts = [line[line.index("(") + 1 : -1] for line in md.splitlines() if line.startswith("![")]
    assert charts  # the drift histograms are linked, and each is an SVG beside the report
    for chart in charts:
        assert (ctx.out / chart).read_text().startswith("<svg ")


def test_bad_config_raises_before_reading(workspace: Path) -> None:
    ctx = context(workspace, {"data": "data/current.parquet", "rows": {"minimum": 3}})
    with pytest.raises(
        DataCheckConfigError,
        match=r"^with\.rows\.minimum: unknown key 'minimum'; did you mean 'min'\?",
    ):
        main(ctx)


def test_stage_runs_from_the_environment(workspace: Path, tmp_path: Path) -> None:
    """The way the engine runs it: a fresh process reading LOCKGATE_* variables."""
    _write(workspace)
    env = {
        "LOCKGATE_WORKSPACE": str(workspace),
        "LOCKGATE_OUT": str(tmp_path / "o"),
        "LOCKGATE_STATE": str(tmp_path / "s"),
        "LOCKGATE_STAGE": "validate",
        "LOCKGATE_WITH": json.dumps({"data": "data/current.parquet", "rows": {"min": 100}}),
    }
    code = (
        "import sys; from lockgate.stages.context import StageContext;"
        "from lockgate.stages.data_check import main; sys.exit(main(StageContext.from_env()))"
    )
    root = Path(__file__).parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["rows"] == 500


def test_importing_the_stage_loads_no_heavy_library() -> None:
    code = (
        "import sys, lockgate.stages.data_check.check, lockgate.stages.data_check.report;"
        "print(sorted(m for m in ('polars', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    assert done.stdout.strip() == "[]"


def test_a_wide_report_leads_with_failures_and_drift_and_folds_passing_checks() -> None:
    """64 columns passing two checks each and one failure: the failure and the drifted column
    come first, the 128 passing rows collapse to one folded row per check."""
    from lockgate.stages.data_check.outcome import CheckResult, ColumnDrift, DataCheckOutcome
    from lockgate.stages.data_check.report import markdown

    columns = [f"px{i}" for i in range(64)]
    checks = [CheckResult("not_null", c, 0.0, 0.0, "pass") for c in columns]
    checks += [CheckResult("range", c, 0.0, [0, 16], "pass") for c in columns]
    checks.insert(70, CheckResult("rows_min", None, 500, 1000, "fail"))
    drift = [
        ColumnDrift(c, "numeric", {"psi": 0.5 if c == "px7" else 0.01}, {"psi": 0.2})
        for c in columns
    ]
    md = markdown(DataCheckOutcome("digits", (), 500, tuple(checks), tuple(drift)), {})
    lines = md.splitlines()
    assert len(lines) < 30, md
    assert lines.index("## Failures and findings") < lines.index("## Drift")
    assert lines.index("## Drift") < lines.index("<details><summary>128 checks passed</summary>")
    assert "| rows_min |  | 500 | 1000 | FAIL |" in lines
    assert "| px7 | numeric | psi=0.5 | True |" in lines
    assert "Stable: 63 columns: px0, px1, px2, px3, px4, px5, px6, px8 and 55 more." in lines
    assert "| not_null | 64 columns: px0, px1, px2, px3, px4, px5, px6, px7 and 56 more |" in lines
    assert not any(line.endswith("| pass |") for line in lines)
