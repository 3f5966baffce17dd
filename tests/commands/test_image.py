"""``lockgate image build --push``: a registry that already holds the recipe's image is a hit
(printed by digest, nothing built, no engine needed); a miss goes on to build. Against a real
docker-registry process."""

from __future__ import annotations

import argparse
import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.commands._project import load_project
from lockgate.images.runner import registry_tag
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient
from tests.supply.registry_server import RegistryServer, free_port

QUICKSTART = Path(__file__).parents[2] / "pipelines" / "quickstart"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is not installed (apt-get install docker-registry)")
    server = RegistryServer(tmp_path_factory.mktemp("registry"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    shutil.copytree(QUICKSTART, tmp_path / "quickstart")
    return tmp_path / "quickstart" / "lockgate.yaml"


def test_a_registry_hit_builds_nothing_and_needs_no_engine(
    registry: RegistryServer,
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = load_project(argparse.Namespace(spec=spec)).plan().stages[0].image
    repository = f"{registry.host}/team/quickstart-runner"
    image = build_image([layer_from_files({"marker": recipe.digest.encode()})])
    client = RegistryClient(registry.access())
    pushed = client.push_image(ImageRef.parse(f"{repository}:{registry_tag(recipe.digest)}"), image)
    # No engine at all: a hit must not reach for one.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{spec.parent}/no-engine.sock")
    argv = ["image", "build", "--spec", str(spec), "--push", repository, "--plain-http"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == f"{repository}@{pushed.digest}"
    assert "nothing to build" in captured.err


# The docker SDK leaves its socket to the collector when the engine is absent.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_registry_miss_goes_on_to_build(
    registry: RegistryServer,
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{spec.parent}/no-engine.sock")
    repository = f"{registry.host}/team/never-pushed"
    argv = ["image", "build", "--spec", str(spec), "--push", repository, "--plain-http"]
    assert main(argv) != 0  # it missed, so it needed the (absent) engine to build
    captured = capsys.readouterr()
    assert "nothing to build" not in captured.err
    assert "engine" in captured.err.lower()
    gc.collect()  # inside this test, where the warning above is expected


def test_read_only_credentials_build_on_a_miss_and_push_nothing(
    registry: RegistryServer,
    spec: Path,
    docker_client: object,
    base_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fork's pull request: the real engine builds (or already holds) the runner image, and the
    registry stays without it."""
    recipe = load_project(argparse.Namespace(spec=spec)).plan().stages[0].image
    repository = f"{registry.host}/team/fork-pr"
    argv = ["image", "build", "--spec", str(spec), "--push", repository, "--plain-http"]
    assert main([*argv, "--read-only", "--bootstrap-base"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # no image a later job could run
    assert f"built {recipe.tag}" in captured.err and "pushed nothing" in captured.err
    ref = ImageRef.parse(f"{repository}:{registry_tag(recipe.digest)}")
    assert RegistryClient(registry.access()).find(ref) is None
