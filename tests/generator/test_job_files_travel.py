"""What a generated job hands on and keeps: every file of an exported stage folder (a sealed
folder's hidden index too), the stage cache where `lockgate run` really keeps it, and registry
credentials that the registry the image goes to accepts."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load
from tests.projects import lockgate

SEALED = """\
version: 1
name: sealed
image: {base: python:3.11-slim-bookworm}
secrets:
  data-key: {env: LOCKGATE_DATA_KEY}
encryption: {key: data-key}
stages:
  prep:
    run: [python3, -c, "import os, pathlib; pathlib.Path(os.environ['LOCKGATE_OUT'], 'x.txt').write_text('x')"]
    outputs: [x.txt]
"""


def _workflow(root: Path, spec: Path, **options: object) -> dict:
    files = render_files(provider="github", spec=spec, root=root, **options)  # type: ignore[arg-type]
    return load(files[0].text)


def _step(job: dict, action: str) -> dict:
    return next(s for s in job["steps"] if action in s.get("uses", ""))


def test_upload_keeps_the_hidden_index_of_a_sealed_export(tmp_path: Path) -> None:
    (tmp_path / "lockgate.yaml").write_text(SEALED)
    key = {"LOCKGATE_DATA_KEY": os.urandom(32).hex()}
    done = lockgate(
        "run",
        "--stage",
        "prep",
        "--only",
        "--executor",
        "local",
        "--export-dir",
        ".lockgate/out",
        cwd=tmp_path,
        env=key,
    )
    assert done.code == 0, done.stderr
    hidden = [p.name for p in (tmp_path / ".lockgate/out/prep").iterdir() if p.name[0] == "."]
    assert hidden, "a sealed export is expected to hold its hidden index"
    upload = _step(
        _workflow(tmp_path, tmp_path / "lockgate.yaml")["jobs"]["lockgate-prep"], "upload-artifact"
    )
    # upload-artifact leaves hidden files out since v4.4.0 unless asked for them
    assert upload["with"]["include-hidden-files"] is True
    action = load((Path(__file__).parents[2] / "actions/stage/action.yml").read_text())
    uploads = [s for s in action["runs"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and all(s["with"]["include-hidden-files"] is True for s in uploads)


def test_the_ci_cache_is_where_lockgate_keeps_it_for_a_spec_below_the_root(tmp_path: Path) -> None:
    spec = tmp_path / "ml" / "lockgate.yaml"
    spec.parent.mkdir()
    spec.write_text(SEALED.replace("encryption: {key: data-key}\n", ""))
    # run the stage the way a generated job does: from the repository root
    (tmp_path / ".lockgate/in").mkdir(parents=True)
    done = lockgate(
        "run",
        "--spec",
        "ml/lockgate.yaml",
        "--stage",
        "prep",
        "--only",
        "--executor",
        "local",
        "--upstream-dir",
        ".lockgate/in",
        "--export-dir",
        ".lockgate/out",
        cwd=tmp_path,
    )
    assert done.code == 0, done.stderr
    assert any((tmp_path / "ml/.lockgate/cache").iterdir())
    job = _workflow(tmp_path, spec)["jobs"]["lockgate-prep"]
    assert _step(job, "actions/cache")["with"]["path"] == "ml/.lockgate/cache"
    gitlab = load(render_files(provider="gitlab", spec=spec, root=tmp_path)[0].text)
    assert gitlab["lockgate-prep"]["cache"]["paths"] == ["ml/.lockgate/cache/"]
    with_action = _workflow(tmp_path, spec, actions="./")["jobs"]["lockgate-prep"]
    assert with_action["steps"][1]["with"]["cache-dir"] == "ml/.lockgate/cache"


def test_a_registry_other_than_ghcr_signs_in_with_the_repository_secrets(tmp_path: Path) -> None:
    spec = tmp_path / "lockgate.yaml"
    spec.write_text(SEALED.replace("image:", "registry: registry.example.com/ml\nimage:", 1))
    jobs = _workflow(tmp_path, spec)["jobs"]
    login = next(
        s for s in jobs["lockgate--image"]["steps"] if s.get("name") == "Log in to the registry"
    )
    assert login["env"]["LOCKGATE_REGISTRY_PASSWORD"] == "${{ secrets.LOCKGATE_REGISTRY_PASSWORD }}"
    stage = jobs["lockgate-prep"]
    assert (
        stage["container"]["credentials"]["password"] == "${{ secrets.LOCKGATE_REGISTRY_PASSWORD }}"
    )
    assert (
        "packages" not in stage["permissions"]
        and "packages" not in jobs["lockgate--image"]["permissions"]
    )
    gitlab = load(render_files(provider="gitlab", spec=spec, root=tmp_path)[0].text)
    assert (
        'lockgate ci login --registry "$LOCKGATE_IMAGE_NAME"' in gitlab[".lockgate-image"]["script"]
    )
    assert gitlab["variables"]["LOCKGATE_IMAGE_NAME"] == "registry.example.com/ml/sealed-runner"

    spec.write_text(SEALED.replace("image:", "registry: ghcr.io/acme/ml\nimage:", 1))
    jobs = _workflow(tmp_path, spec)["jobs"]
    assert (
        jobs["lockgate-prep"]["container"]["credentials"]["password"]
        == "${{ secrets.GITHUB_TOKEN }}"
    )
    assert jobs["lockgate--image"]["permissions"]["packages"] == "write"
