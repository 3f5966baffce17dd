"""``lockgate image prune`` against the real engine: a spec's runner images but those its stages
run in now go, with the untagged install stages their builds left; an image a container uses,
one also tagged for another repository, and anything of another spec stay."""

from __future__ import annotations

import contextlib
import io
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.__main__ import main
from lockgate.images.prune import STAGE_LABEL, older_images_hint, prune_runner_images

QUICKSTART = Path(__file__).parents[2] / "pipelines" / "quickstart"


@pytest.fixture
def made(docker_client: Any, base_image: str) -> Iterator[Any]:
    """Builds small images (a label on the base image) and removes them after the test."""
    import docker

    ids: list[str] = []

    def build(*tags: str, stage_of: str | None = None) -> Any:
        labels = f'LABEL x="{uuid.uuid4().hex}"' + (
            f' {STAGE_LABEL}="{stage_of}"' if stage_of else ""
        )
        dockerfile = f"FROM {base_image}\n{labels}\n"
        image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True)
        for tag in tags:
            image.tag(tag)
        ids.append(image.id)
        return docker_client.images.get(image.id)

    yield build
    for image_id in ids:
        with contextlib.suppress(docker.errors.NotFound):  # removed by the test
            docker_client.images.remove(image_id, force=True)


def _present(client: Any, image_id: str) -> bool:
    return any(image.id == image_id for image in client.images.list(all=True))


def test_only_the_spec_s_stale_runner_images_and_their_build_stages_go(
    docker_client: Any, made: Any
) -> None:
    repo = f"lockgate-runner/prune-{uuid.uuid4().hex[:8]}"
    other = f"lockgate-runner/other-{uuid.uuid4().hex[:8]}"
    current = made(f"{repo}:current")
    stale = made(f"{repo}:stale1")
    pushed = made(f"{repo}:stale2", "127.0.0.1:5999/team/runner:stale2")
    used = made(f"{repo}:stale3")
    stage = made(stage_of=repo)
    another_stage = made(stage_of=other)
    another = made(f"{other}:old")
    container = docker_client.containers.create(f"{repo}:stale3", ["true"])
    try:
        pruned = prune_runner_images(docker_client, [f"{repo}:current"])
    finally:
        container.remove()
    assert sorted(pruned.images) == [f"{repo}:stale1", f"{repo}:stale2"]
    assert pruned.in_use == (f"{repo}:stale3",)
    assert pruned.stages == 1
    assert not _present(docker_client, stale.id) and not _present(docker_client, stage.id)
    assert docker_client.images.get(pushed.id).tags == ["127.0.0.1:5999/team/runner:stale2"]
    for kept in (current, used, another, another_stage):
        assert _present(docker_client, kept.id)


def test_older_than_keeps_what_is_younger(docker_client: Any, made: Any) -> None:
    repo = f"lockgate-runner/prune-{uuid.uuid4().hex[:8]}"
    made(f"{repo}:current")
    stale = made(f"{repo}:stale")
    stage = made(stage_of=repo)
    pruned = prune_runner_images(docker_client, [f"{repo}:current"], 3600.0, now=_now())
    assert pruned.images == () and pruned.stages == 0
    assert _present(docker_client, stale.id) and _present(docker_client, stage.id)
    later = _now() + 7200.0  # two hours on, both are older than an hour
    pruned = prune_runner_images(docker_client, [f"{repo}:current"], 3600.0, now=later)
    assert pruned.images == (f"{repo}:stale",) and pruned.stages == 1


def test_the_build_hint_counts_no_image_a_stage_runs_in(docker_client: Any, made: Any) -> None:
    """A spec whose stages run in two images (one with its own ``image:``): building one does
    not call the other older, while an image no stage runs in is counted."""
    repo = f"lockgate-runner/hint-{uuid.uuid4().hex[:8]}"
    made(f"{repo}:built")
    made(f"{repo}:sibling")
    in_use = [f"{repo}:built", f"{repo}:sibling"]
    assert older_images_hint(docker_client, f"{repo}:built", in_use) == ""
    made(f"{repo}:stale")
    hint = older_images_hint(docker_client, f"{repo}:built", in_use)
    assert hint.startswith(f"lockgate: the engine also holds 1 older runner image of {repo} (")


def _now() -> float:
    import time

    return time.time()


@pytest.mark.slow
def test_the_command_after_a_changed_recipe(
    tmp_path: Path, docker_client: Any, base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two builds of one spec, its requirements changed between them: the first image and the
    install stage the builds left are removed, the image the stages run in now stays."""
    project = tmp_path / "project"
    shutil.copytree(QUICKSTART, project)
    name = f"prune-{uuid.uuid4().hex[:8]}"
    spec = project / "lockgate.yaml"
    text = spec.read_text().replace("name: quickstart", f"name: {name}")
    spec.write_text(text.replace("  base: ", "  requirements: requirements.txt\n  base: ", 1))
    repo = f"lockgate-runner/{name}"
    tags = []
    try:
        hints = []
        for version in ("1", "2"):
            (project / "requirements.txt").write_text(f"# recipe {version}\n")
            assert main(["image", "build", "--spec", str(spec)]) == 0
            said = capsys.readouterr()
            tags.append(said.out.strip().splitlines()[-1].split()[0])
            hints += [line for line in said.err.splitlines() if "older runner" in line]
        # the second build says what the first left and how to remove it
        assert len(hints) == 1, hints
        assert hints[0].startswith(
            f"lockgate: the engine also holds 1 older runner image of {repo} ("
        )
        assert hints[0].endswith("`lockgate image prune` removes them")
        assert [repo] * 2 == [t.rsplit(":", 1)[0] for t in tags] and tags[0] != tags[1], tags
        stages = docker_client.images.list(filters={"label": f"{STAGE_LABEL}={repo}"})
        assert stages, "the build left no labelled install stage"
        assert main(["image", "prune", "--spec", str(spec)]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert out[0] == f"removed {tags[0]}"
        assert out[-1].startswith(f"removed 1 runner image and {len(stages)} build stage")
        assert out[-1].endswith(" MiB freed"), out
        assert [t for i in docker_client.images.list(name=repo) for t in i.tags] == [tags[1]]
        assert not docker_client.images.list(filters={"label": f"{STAGE_LABEL}={repo}"})
        assert main(["image", "prune", "--spec", str(spec)]) == 0
        assert capsys.readouterr().out.startswith("removed 0 runner images and 0 build stages")
    finally:
        for image in docker_client.images.list(name=repo):
            docker_client.images.remove(image.id, force=True)


def test_a_bad_duration_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = shutil.copytree(QUICKSTART, tmp_path / "q") / "lockgate.yaml"
    assert main(["image", "prune", "--spec", str(spec), "--older-than", "soon"]) != 0
    assert capsys.readouterr().err == (
        "lockgate: error: --older-than: expected a duration like 90s, 30m, 12h, 2d, 1w or "
        "1h30m, got 'soon'\n"
    )


@pytest.mark.docker
def test_a_run_building_a_stage_s_own_image_calls_no_image_of_the_spec_older(
    tmp_path: Path, docker_client: Any, base_image: str, made: Any
) -> None:
    """The default image and a stage's own, both built in one run: neither build counts the
    other as older; an image of the spec that no stage runs in is counted."""
    from tests.projects import lockgate, write_project

    name = f"hint-{uuid.uuid4().hex[:8]}"
    spec = f"""\
    version: 1
    name: {name}
    image: {{dockerfile: a.Dockerfile}}
    stages:
      first:
        run: [sh, -c, "true"]
      second:
        needs: [first]
        image: {{dockerfile: b.Dockerfile}}
        run: [sh, -c, "true"]
    """
    files = {f"{x}.Dockerfile": f"FROM {base_image}\nLABEL x={x}-{name}\n" for x in "ab"}
    root = write_project(tmp_path / "p", spec, files)
    repo = f"lockgate-runner/{name}"
    try:
        first = lockgate("run", "--executor", "docker", cwd=root)
        assert first.code == 0, first.stderr[-3000:]
        assert first.stderr.count(f"lockgate: built {repo}:") == 2
        assert "older runner" not in first.stderr
        made(f"{repo}:stale")
        for x in "ab":  # a new recipe for each: both are built again
            (root / f"{x}.Dockerfile").write_text(f"FROM {base_image}\nLABEL x={x}2-{name}\n")
        again = lockgate("run", "--executor", "docker", cwd=root)
        assert again.code == 0, again.stderr[-3000:]
        hints = [line for line in again.stderr.splitlines() if "older runner" in line]
        assert len(hints) == 2 and all(f"holds 3 older runner images of {repo}" in h for h in hints)
    finally:
        for image in docker_client.images.list(name=repo):
            docker_client.images.remove(image.id, force=True)
