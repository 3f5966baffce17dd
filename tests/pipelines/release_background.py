"""The release path of tests/pipelines/test_release_pipeline.py, started when the session begins
instead of when the suite reaches that module.

``pipelines/release/release.py`` takes minutes and spends most of them waiting: on containers
starting, on registry pushes, on canary pauses and the traffic that fills them. Started with
the session, it runs beside the tests before it, and the module's fixture usually finds it done.
The run is the same command with the same arguments; its exit status and output are checked
exactly as when it ran in line. It starts only when the session holds a test of that module and
the engine, the base image, trivy and cosign are there; otherwise the module runs it in line, and
its fixtures skip or fail as before.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_BASE_IMAGE, DEFAULT_TOOLS_DIR, _connect_engine
from tests.projects import REPO_ROOT

RELEASE = REPO_ROOT / "pipelines" / "release" / "release.py"
RELEASE_TESTS = Path(__file__).resolve().with_name("test_release_pipeline.py")
TIMEOUT_S = 2400


def release_argv(state: Path, suffix: str, *args: str) -> list[str]:
    return [sys.executable, str(RELEASE), "--state", str(state), f"--env-suffix={suffix}", *args]


def release_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_COLOR": "1"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@dataclass
class ReleaseRun:
    """One ``release.py`` run: in the background (``process``) or already finished."""

    state: Path
    suffix: str
    process: subprocess.Popen[bytes] | None = None
    output: Path | None = None
    taken: bool = False  # a fixture took it over, and brings its environments down itself
    started: float = field(default_factory=time.monotonic)

    def result(self) -> tuple[int, str, str]:
        """The exit status, stdout and stderr, once the run has ended."""
        assert self.process is not None and self.output is not None
        left = max(1.0, TIMEOUT_S - (time.monotonic() - self.started))
        try:
            code = self.process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            self.stop()
            code = -9
        stdout = self.output.read_text(errors="replace")
        return code, stdout, self.output.with_suffix(".err").read_text(errors="replace")

    def stop(self) -> None:
        """End the run and what it started: it leads its own process group, and SIGTERM lets a
        ``lockgate run`` in it stop its stage containers first."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def down(self) -> None:
        """Remove the environments' containers and stop the registry."""
        subprocess.run(
            release_argv(self.state, self.suffix, "--down"),
            env=release_env(),
            capture_output=True,
            timeout=300,
            check=False,
        )


def start_release(state: Path) -> ReleaseRun:
    run = ReleaseRun(state, f"-t{secrets.token_hex(3)}", output=state.parent / "release.out")
    assert run.output is not None
    argv = release_argv(state, run.suffix, "--free-port", "--json", str(state / "outcome.json"))
    with run.output.open("wb") as out, run.output.with_suffix(".err").open("wb") as err:
        run.process = subprocess.Popen(
            argv, env=release_env(), stdout=out, stderr=err, start_new_session=True
        )
    return run


BACKGROUND = pytest.StashKey[ReleaseRun]()


def _components_ready() -> bool:
    """The engine with the base image, trivy and cosign: what the module's fixtures ask for."""
    client, _ = _connect_engine()
    if client is None:
        return False
    try:
        client.images.get(os.environ.get("LOCKGATE_BASE_IMAGE", DEFAULT_BASE_IMAGE))
    except Exception:  # not there, or the engine did not answer: the module says which, in line
        return False
    finally:
        client.close()
    tools = Path(os.environ.get("LOCKGATE_TOOLS_DIR") or DEFAULT_TOOLS_DIR) / "bin"
    return all((tools / name).is_file() or shutil.which(name) for name in ("trivy", "cosign"))


@pytest.fixture(scope="session", autouse=True)
def _release_in_background(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _outside_ci: None,
    _suite_witness: None,
) -> Iterator[None]:
    """After the CI markers are gone and the suite's witness folder is set, as for the module's
    fixture: the run inherits this environment."""
    wanted = any(Path(item.path).resolve() == RELEASE_TESTS for item in request.session.items)
    if not wanted or not _components_ready():
        yield
        return
    folder = tmp_path_factory.mktemp("release")
    (folder / "state").mkdir()
    run = start_release(folder / "state")
    request.config.stash[BACKGROUND] = run
    try:
        yield
    finally:
        if not run.taken:  # its module never ran (deselected, or the session stopped early)
            run.stop()
            run.down()
