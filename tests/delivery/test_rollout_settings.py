"""Rollout settings live with each environment in lockgate.yaml (`rollout:`); the older
delivery.yaml beside the spec is still read, and one environment described in both is refused.
Everything goes through the real loaders and, for the command-line cases, the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.config import DeliveryConfigError, resolve_rollout
from lockgate.delivery.environment import state_folder

HEAD = "version: 1\nname: gated\nimage: {base: lockgate/debian:bookworm}\n"
HEAD += "stages:\n  s: {run: [sh, -c, 'true']}\n"

SPEC = (
    HEAD
    + """environments:
  - name: staging
  - name: production
    rollout:
      strategy: blue-green
      blue_green: {smoke_requests: 7}
      analysis: {conditions: ["error_rate < 0.05"]}
"""
)


def _project(tmp_path: Path, spec: str = SPEC, delivery: str | None = None) -> Path:
    (tmp_path / "lockgate.yaml").write_text(spec)
    if delivery is not None:
        (tmp_path / "delivery.yaml").write_text(delivery)
    return tmp_path


def test_an_environments_rollout_block_is_its_settings(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "sub").mkdir()
    found = resolve_rollout("production", start=root / "sub")
    assert found.root == root.resolve()
    assert found.settings.strategy == "blue-green"
    assert found.settings.blue_green.smoke_requests == 7
    assert found.settings.analysis.conditions == ("error_rate < 0.05",)
    assert state_folder(None, root / "sub") == root.resolve() / ".lockgate" / "state" / "delivery"


def test_a_listed_environment_without_a_block_gets_the_defaults(tmp_path: Path) -> None:
    found = resolve_rollout("staging", start=_project(tmp_path))
    assert (found.settings.target, found.settings.strategy) == ("docker", "canary")
    assert [s.weight for s in found.settings.canary.steps] == [10, 25, 50]


def test_the_older_delivery_yaml_is_still_read(tmp_path: Path) -> None:
    root = _project(tmp_path, delivery="environments:\n  staging: {strategy: blue-green}\n")
    assert resolve_rollout("staging", start=root).settings.strategy == "blue-green"
    explicit = tmp_path / "elsewhere.yaml"
    explicit.write_text("environments:\n  qa: {target: kubernetes}\n")
    found = resolve_rollout("qa", delivery=explicit)
    assert (found.settings.target, found.root) == ("kubernetes", tmp_path.resolve())


def test_one_environment_in_both_places_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, delivery="environments:\n  production: {}\n")
    with pytest.raises(DeliveryConfigError, match="two places") as caught:
        resolve_rollout("production", start=root)
    assert "lockgate.yaml" in str(caught.value) and "delivery.yaml" in str(caught.value)


def test_an_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DeliveryConfigError) as caught:
        resolve_rollout("qa", start=_project(tmp_path))
    assert "no environment 'qa'" in str(caught.value)
    assert "known: staging, production" in str(caught.value)


def test_validate_reports_every_bad_rollout_setting_where_it_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = SPEC.replace("{smoke_requests: 7}", "{smoke_requests: 0}").replace(
        "strategy: blue-green", "strategy: blue-green\n      canary: {steps: [{weight: 140}]}"
    )
    monkeypatch.chdir(_project(tmp_path, bad))
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "lockgate.yaml:11:33: environments[1].rollout.canary.steps[0].weight: " in err
    assert "lockgate.yaml:12:36: environments[1].rollout.blue_green.smoke_requests: " in err
    assert "Traceback" not in err


def test_validate_accepts_the_block_and_notes_an_older_delivery_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(_project(tmp_path))
    assert main(["validate"]) == 0
    assert capsys.readouterr().err == ""
    (tmp_path / "delivery.yaml").write_text("environments:\n  staging: {}\n")
    assert main(["validate", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is True
    assert "delivery.yaml is still read" in err and "`rollout:`" in err


def test_rollout_status_reads_the_spec_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(_project(tmp_path))
    assert main(["rollout", "status", "production", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "production"
    assert main(["rollout", "status", "qa"]) == 2
    assert "no environment 'qa'" in capsys.readouterr().err


def test_the_reference_block_in_docs_loads(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "delivery.md"
    section = doc.read_text().split("## Configuration: `rollout:` in `lockgate.yaml`", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    root = _project(tmp_path, HEAD + block)
    settings = resolve_rollout("production", start=root).settings
    assert [step.weight for step in settings.canary.steps] == [10, 25, 50, 100]
    assert settings.monitor.reference == {"low": 0.2, "mid": 0.6, "high": 0.2}
    assert settings.kubernetes.router == "gateway-api"


def test_an_older_delivery_yaml_reports_every_problem_at_its_line(tmp_path: Path) -> None:
    from lockgate.delivery.config import load_delivery_config

    path = tmp_path / "delivery.yaml"
    path.write_text(
        "environments:\n  staging:\n    stratgy: canary\n    canary: {steps: [{weight: 101}]}\n"
    )
    with pytest.raises(DeliveryConfigError) as caught:
        load_delivery_config(path)
    text = str(caught.value)
    assert f"{path}:3:5: environments.staging.stratgy: unknown key 'stratgy'; did you mean " in text
    assert f"{path}:4:31: environments.staging.canary.steps[0].weight: " in text
    path.write_text("environments:\n  staging: {}\n  staging: {}\n")
    with pytest.raises(DeliveryConfigError, match=r"delivery.yaml:3:3: .*duplicate key"):
        load_delivery_config(path)
