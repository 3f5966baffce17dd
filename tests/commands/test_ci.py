"""`lockgate ci` steps, run through their argparse entry with a real subprocess boundary.

`lockgate image build` and `lockgate cache-key` are not on this branch: the steps call a
stand-in `lockgate` script on PATH that prints what the real commands print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

from lockgate.commands.ci import add_arguments, run
from lockgate.errors import LockgateError

DIGEST = "registry.example.com/ml/churn-runner@sha256:" + "ab" * 32


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "lockgate"
    script.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        "print('building...')\n"
        "print('lockgate: progress', ' '.join(sys.argv[1:]), file=sys.stderr)\n"
        "print(os.environ.get('STAND_IN_OUTPUT', ''))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def test_image_digest_goes_to_github_output(stand_in: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("STAND_IN_OUTPUT", DIGEST)
    assert (
        run(_args("image", "--push", "Registry.example.com/ML/churn-runner", "--output", "github"))
        == 0
    )
    assert out.read_text() == f"image={DIGEST}\n"


def test_image_digest_goes_to_a_dotenv_report(
    stand_in: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STAND_IN_OUTPUT", DIGEST)
    dotenv = tmp_path / "lockgate-image.env"
    argv = ("image", "--push", "r/x", "--bootstrap-base", "--output", f"dotenv={dotenv}")
    assert run(_args(*argv)) == 0
    assert dotenv.read_text() == f"LOCKGATE_IMAGE={DIGEST}\n"
    # the build's own progress reaches the job log, and the base flag reached the build
    assert "lockgate: progress image build --push r/x --bootstrap-base" in capsys.readouterr().err


@pytest.mark.parametrize(
    "printed", ["registry.example.com/ml/churn-runner:latest", "", "x@sha256:abc"]
)
def test_anything_but_a_digest_is_refused(stand_in: Path, monkeypatch, printed: str) -> None:
    monkeypatch.setenv("STAND_IN_OUTPUT", printed)
    with pytest.raises(LockgateError, match=r"expected .*REF@sha256:<64 hex>"):
        run(_args("image", "--push", "r/x", "--output", "plain"))


def test_cache_key_is_checked_and_written(stand_in: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("STAND_IN_OUTPUT", "0f" * 32)
    with pytest.raises(LockgateError, match="64 hex"):
        run(_args("cache-key", "train", "--output", "github"))  # two lines printed
    monkeypatch.setenv("STAND_IN_OUTPUT", "")
    stand_in.write_text(f"#!{sys.executable}\nprint('{'0f' * 32}')\n")
    assert run(_args("cache-key", "train", "--upstream-dir", "in", "--output", "github")) == 0
    assert out.read_text() == f"key={'0f' * 32}\n"


def test_github_output_needs_the_variable(stand_in: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.setenv("STAND_IN_OUTPUT", DIGEST)
    with pytest.raises(LockgateError, match=r"\$GITHUB_OUTPUT is not set"):
        run(_args("image", "--push", "r/x", "--output", "github"))


def test_summary_appends_report_and_metrics(tmp_path: Path, monkeypatch) -> None:
    stage = tmp_path / "out/train"
    stage.mkdir(parents=True)
    (stage / "report.md").write_text("Accuracy went up.\n")
    (stage / "metrics.json").write_text('{"accuracy": 0.91, "note": "a|b", "nested": {"x": 1}}')
    summary = tmp_path / "summary.md"
    summary.write_text("earlier\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert (
        run(_args("summary", "train", "--export-dir", str(tmp_path / "out"), "--output", "github"))
        == 0
    )
    assert summary.read_text() == (
        "earlier\n## lockgate stage `train`\n\nAccuracy went up.\n\n"
        "| metric | value |\n|---|---|\n| accuracy | 0.91 |\n| note | a\\|b |\n\n"
    )


@pytest.mark.parametrize("curve", ["training-curve.svg", "training-curve.png"])  # now, before
def test_summary_draws_the_training_curve_inline(tmp_path: Path, capsys, curve: str) -> None:
    """A job summary has no folder to link into: the curve's image becomes a chart drawn
    from history.json, whichever name the report gives the image."""
    stage = tmp_path / "out/train"
    stage.mkdir(parents=True)
    (stage / "report.md").write_text(f"## Training\n\n![training curve]({curve})\n")
    (stage / "history.json").write_text(
        json.dumps([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.4}])
    )
    assert run(_args("summary", "train", "--export-dir", str(tmp_path / "out"))) == 0
    shown = capsys.readouterr().out
    assert "```mermaid\nxychart-beta" in shown and "line [0.9, 0.4]" in shown
    assert curve not in shown


def test_summary_without_outputs_says_so(tmp_path: Path, capsys) -> None:
    assert run(_args("summary", "stats", "--export-dir", str(tmp_path))) == 0
    assert "no report.md or metrics.json" in capsys.readouterr().out


def test_inputs_moves_needed_artifacts(tmp_path: Path) -> None:
    for name in ("prepare", "stats", "other"):
        (tmp_path / "dl" / f"lockgate-{name}").mkdir(parents=True)
        (tmp_path / "dl" / f"lockgate-{name}" / "f").write_text(name)
    assert (
        run(
            _args(
                "inputs",
                "--needs",
                "prepare stats",
                "--from",
                str(tmp_path / "dl"),
                "--to",
                str(tmp_path / "in"),
            )
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["prepare", "stats"]
    with pytest.raises(LockgateError, match="no artifact lockgate-train"):
        run(
            _args(
                "inputs",
                "--needs",
                "train",
                "--from",
                str(tmp_path / "dl"),
                "--to",
                str(tmp_path / "in"),
            )
        )


def test_login_needs_credentials(monkeypatch) -> None:
    monkeypatch.delenv("LOCKGATE_REGISTRY_USER", raising=False)
    with pytest.raises(LockgateError, match="LOCKGATE_REGISTRY_USER"):
        run(_args("login", "--registry", "ghcr.io"))


def test_outputs_name_digest_verdict_and_report(tmp_path: Path, monkeypatch) -> None:
    ref = "registry.example.com/ml/churn@sha256:" + "a" * 64
    package = tmp_path / "out/package"
    package.mkdir(parents=True)
    (package / "image.json").write_text(json.dumps({"ref": ref}))
    (package / "report.md").write_text("built\n")
    evaluate = tmp_path / "out/evaluate"
    evaluate.mkdir(parents=True)
    (evaluate / "metrics.json").write_text(json.dumps({"verdict": "fail", "accuracy": 0.5}))
    github_output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    export = str(tmp_path / "out")
    assert run(_args("outputs", "package", "--export-dir", export, "--output", "github")) == 0
    assert run(_args("outputs", "evaluate", "--export-dir", export, "--output", "github")) == 0
    assert github_output.read_text().splitlines() == [
        f"digest={ref}",
        "verdict=",
        f"report={package / 'report.md'}",
        "digest=",
        "verdict=fail",
        "report=",
    ]
    (package / "image.json").write_text(json.dumps({"ref": "churn:latest"}))  # a tag, no digest
    assert (
        run(
            _args(
                "outputs",
                "package",
                "--export-dir",
                export,
                "--output",
                "dotenv=" + str(tmp_path / "e"),
            )
        )
        == 0
    )
    assert (tmp_path / "e").read_text().startswith("LOCKGATE_DIGEST=\n")


def test_login_stores_credentials_without_a_docker_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    from lockgate.supply.docker_config import credentials_for

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("LOCKGATE_REGISTRY_USER", "gitlab-ci-token")
    monkeypatch.setenv("LOCKGATE_REGISTRY_PASSWORD", "job-token-value")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no docker binary to call
    assert run(_args("login", "--registry", "registry.example.com/group/project")) == 0
    assert credentials_for("registry.example.com", tmp_path / "docker/config.json") == (
        "gitlab-ci-token",
        "job-token-value",
    )
    assert "job-token-value" not in capsys.readouterr().out


def test_a_read_only_image_job_outputs_no_image(tmp_path: Path, monkeypatch, capsys) -> None:
    bin_dir = tmp_path / "bin"  # `image build --read-only` on a miss: progress on stderr only
    bin_dir.mkdir()
    script = bin_dir / "lockgate"
    script.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        "print('lockgate: built', ' '.join(sys.argv[1:]), file=sys.stderr)\n"
        "print(os.environ.get('STAND_IN_OUTPUT', ''))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("STAND_IN_OUTPUT", "")
    assert run(_args("image", "--push", "r/x", "--read-only", "--output", "github")) == 0
    assert out.read_text() == "image=\n"
    err = capsys.readouterr().err
    assert "built image build --push r/x --read-only" in err and "stage jobs are skipped" in err
    monkeypatch.setenv("STAND_IN_OUTPUT", "not-a-digest")  # anything else is still refused
    with pytest.raises(LockgateError, match=r"REF@sha256"):
        run(_args("image", "--push", "r/x", "--read-only", "--output", "github"))
