"""The Dagger executor: a StageSpec becomes one lazy Dagger container chain, run by an engine.

:func:`build_container` is a pure translation (no engine needed to build or inspect it);
:class:`DaggerExecutor` connects to an engine, runs the chain and brings outputs back. The SDK
(``dagger-io``) is imported inside the functions that need it, never at start-up.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TextIO

from lockgate.contract import (
    CONTAINER_IN,
    CONTAINER_OUT,
    CONTAINER_SECRETS,
    CONTAINER_WORKSPACE,
)
from lockgate.engine.executor import ExecOutcome
from lockgate.engine.stage_env import base_env
from lockgate.engine.stagespec import ImageRecipe, StagePaths, StageSpec, contract_env
from lockgate.errors import ExecutorUnavailable, LockgateError, StageFailed
from lockgate.executors.dagger_engine import engine_answers, with_engine_socket
from lockgate.executors.stage_tools import stage_tools
from lockgate.images.wheels import cached_wheels

if TYPE_CHECKING:
    from dagger import Client, Container

WHEELHOUSE = "/tmp/lockgate-wheels"
REQUIREMENTS = "/tmp/lockgate-requirements.txt"
WORKSPACE_EXCLUDE = (".lockgate", ".git")
EXIT_TIMEOUT = 124
EXIT_CANCELLED = 130
MASK = "***"

# Installs the recipe's OS packages, plus python3/pip when pip is needed and missing.
_OS_PACKAGES = (
    'set -e; need_pip="$1"; shift; pkgs="$*"; '
    'if [ "$need_pip" = 1 ] && ! command -v pip3 >/dev/null 2>&1; then '
    'pkgs="$pkgs python3 python3-pip"; fi; '
    'if [ -n "$pkgs" ]; then apt-get update -qq; '
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs; "
    "rm -rf /var/lib/apt/lists/*; fi"
)
# Installs wheels fetched on the host; no index is reachable from inside the engine.
_PIP_INSTALL = (
    'PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --no-index --find-links "$0" "$@"'
)


@dataclass(frozen=True)
class HostDirs:
    """Host files the runner image is made from, prepared before the chain is built."""

    wheelhouse: Path | None = None  # wheels for `requirements` and lockgate itself
    base_archive: Path | None = None  # an OCI/docker image tarball that replaces `base`


def runner_image(dag: Client, recipe: ImageRecipe, host_dirs: HostDirs) -> Container:
    """The runner image of ``recipe`` as a container chain (cached by the engine per step)."""
    if recipe.dockerfile:
        context = Path(recipe.context or Path(recipe.dockerfile).parent)
        dockerfile = Path(recipe.dockerfile)
        source = dag.host().directory(str(context))
        if dockerfile.is_relative_to(context):
            name = dockerfile.relative_to(context).as_posix()
        else:
            name = ".lockgate.Dockerfile"
            source = source.with_file(name, dag.host().file(str(dockerfile)))
        ctr = source.docker_build(dockerfile=name)
    elif host_dirs.base_archive is not None:
        ctr = dag.container().import_(dag.host().file(str(host_dirs.base_archive)))
    else:
        ctr = dag.container().from_(recipe.base or "")
    need_pip = bool(recipe.requirements) or recipe.install_lockgate
    if recipe.packages or need_pip:
        flag = "1" if need_pip else "0"
        ctr = ctr.with_exec(["sh", "-c", _OS_PACKAGES, "sh", flag, *recipe.packages])
    if need_pip:
        if host_dirs.wheelhouse is None:
            raise LockgateError(f"image {recipe.tag}: no wheelhouse prepared for the pip step")
        pip_args = ["sh", "-c", _PIP_INSTALL, WHEELHOUSE]
        ctr = ctr.with_mounted_directory(
            WHEELHOUSE, dag.host().directory(str(host_dirs.wheelhouse))
        )
        if recipe.requirements:
            ctr = ctr.with_mounted_file(REQUIREMENTS, dag.host().file(recipe.requirements))
            pip_args += ["-r", REQUIREMENTS]
        if recipe.install_lockgate:
            pip_args.append("lockgate")
        ctr = ctr.with_exec(pip_args).without_mount(WHEELHOUSE)
        if recipe.requirements:
            ctr = ctr.without_mount(REQUIREMENTS)
    return ctr


def build_container(
    dag: Client,
    spec: StageSpec,
    paths: StagePaths,
    *,
    pipeline: str,
    run_id: str,
    git_sha: str,
    secret_files: Mapping[str, Path],
    host_dirs: HostDirs,
    host_env: Mapping[str, str] | None = None,
) -> Container:
    """The whole stage as one lazy chain, ending in the stage's exec (non-zero exits allowed).

    Secrets are referenced by ``file://`` URIs of host files (see :func:`private_secret_files`):
    the engine's session reads them on the host, so no query ever carries a secret's value.
    """
    from dagger import ReturnType

    ctr = runner_image(dag, spec.image, host_dirs)
    env = base_env(host_env or {}, in_container=True, engine=False)
    env.update(contract_env(spec, run_id=run_id, git_sha=git_sha, paths=paths, in_container=True))
    for key in sorted(env):
        ctr = ctr.with_env_variable(key, env[key])
    workspace = dag.host().directory(str(paths.workspace), exclude=list(WORKSPACE_EXCLUDE))
    ctr = ctr.with_mounted_directory(CONTAINER_WORKSPACE, workspace, read_only=True)
    ctr = ctr.with_directory(CONTAINER_IN, dag.directory())
    for name in sorted(paths.inputs):
        upstream = dag.host().directory(str(paths.inputs[name]))
        ctr = ctr.with_mounted_directory(f"{CONTAINER_IN}/{name}", upstream, read_only=True)
    ctr = ctr.with_directory(CONTAINER_OUT, dag.directory())
    ctr = ctr.with_directory(str(paths.state), dag.host().directory(str(paths.state)))
    for name, path in spec.caches:
        ctr = ctr.with_mounted_cache(path, dag.cache_volume(f"lockgate-{pipeline}-{name}"))
    for name in dict.fromkeys([*spec.secrets, *secret_files]):  # and credentials minted for it
        if name not in secret_files:
            raise LockgateError(f"stage {spec.name}: secret {name!r} has no value; set it first")
        secret = dag.secret(f"file://{secret_files[name]}")
        ctr = ctr.with_mounted_secret(f"{CONTAINER_SECRETS}/{name}", secret)
    tools = stage_tools(spec.uses)  # lockgate/scan, lockgate/sign: the host's pinned binaries
    for host, inside in tools.mounts:
        ctr = ctr.with_mounted_file(inside, dag.host().file(str(host)))
    for key in sorted(tools.env):
        ctr = ctr.with_env_variable(key, tools.env[key])
    if spec.gpu == "all":
        ctr = ctr.experimental_with_all_gp_us()
    elif spec.gpu:
        ctr = ctr.experimental_with_gpu([str(i) for i in range(spec.gpu)])
    if spec.engine:
        ctr = with_engine_socket(dag, ctr, spec)
    ctr = ctr.with_workdir(CONTAINER_WORKSPACE)
    return ctr.with_exec(list(spec.argv), expect=ReturnType.ANY)


@contextlib.contextmanager
def private_secret_files(secrets: Mapping[str, str]) -> Iterator[dict[str, Path]]:
    """Each secret in its own 0600 file in a fresh 0700 folder, removed when the stage ends."""
    with tempfile.TemporaryDirectory(prefix="lockgate-secrets-") as folder:
        files = {}
        for name, value in secrets.items():
            path = Path(folder) / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(value)
            files[name] = path
        yield files


def mask(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    return text


def emit(text: str, secrets: Mapping[str, str], output: Callable[[str], None]) -> None:
    """Send ``text`` to ``output`` one line at a time, secrets masked."""
    for line in mask(text, secrets).splitlines():
        output(line)


async def supervise(
    work: Callable[[], Awaitable[ExecOutcome]], *, timeout: float | None, cancel: threading.Event
) -> ExecOutcome:
    """Run ``work`` until it ends, ``timeout`` seconds pass, or ``cancel`` is set."""
    import anyio

    outcome = ExecOutcome(exit_code=EXIT_CANCELLED, interrupted=True)
    error: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while not cancel.is_set():
                await anyio.sleep(0.1)
            group.cancel_scope.cancel()

        async def main() -> None:
            nonlocal outcome, error
            try:
                with anyio.move_on_after(timeout) as scope:
                    outcome = await work()
                if scope.cancelled_caught:
                    outcome = ExecOutcome(exit_code=EXIT_TIMEOUT, timed_out=True)
            except Exception as exc:  # re-raised below as itself, not as an exception group
                error = exc
            finally:
                group.cancel_scope.cancel()

        group.start_soon(watch)
        group.start_soon(main)
    if error is not None:
        raise error
    return outcome


class DaggerExecutor:
    """Runs stages through a Dagger engine: the one of ``dagger run``, or one the SDK starts
    with the ``dagger`` CLI found on PATH."""

    name: ClassVar[str] = "dagger"

    def __init__(
        self,
        project: Path | None = None,
        *,
        pipeline: str = "lockgate",
        image_archives: Mapping[str, Path] | None = None,
        wheel_cache: Path | None = None,
        progress: TextIO | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.image_archives = dict(image_archives or {})
        self.wheel_cache = wheel_cache or Path.home() / ".cache" / "lockgate" / "wheels"
        self.progress = progress

    def check(self) -> None:
        try:
            import dagger  # noqa: F401  (only checks that the SDK is installed)
        except ImportError:
            raise ExecutorUnavailable(
                "executor dagger: the SDK is not installed; pip install 'lockgate[dagger]'"
            ) from None
        if os.environ.get("DAGGER_SESSION_PORT") and os.environ.get("DAGGER_SESSION_TOKEN"):
            return
        if shutil.which("dagger"):
            return
        raise ExecutorUnavailable(
            "executor dagger: no Dagger engine reachable (DAGGER_SESSION_PORT is unset and "
            "`dagger` is not on PATH); install the dagger CLI and run `dagger run lockgate run`, "
            "or choose --executor docker or --executor local"
        )

    def auto_check(self) -> None:
        """Stricter than :meth:`check`, for picking an executor unasked: a Dagger engine must
        answer a query on the session's port. A ``dagger`` binary on PATH is not enough (it
        could be anything, and starting an engine from it may take minutes or fail)."""
        self.check()
        port = os.environ.get("DAGGER_SESSION_PORT", "")
        token = os.environ.get("DAGGER_SESSION_TOKEN", "")
        if not (port and token) or not engine_answers(port, token):
            raise ExecutorUnavailable(
                "executor dagger: no Dagger engine answered (run under `dagger run` to use it, "
                "or choose --executor dagger explicitly)"
            )

    def run(
        self,
        spec: StageSpec,
        paths: StagePaths,
        *,
        run_id: str,
        git_sha: str,
        secrets: Mapping[str, str],
        output: Callable[[str], None],
        cancel: threading.Event,
    ) -> ExecOutcome:
        import anyio

        self.check()
        host_dirs = self.host_dirs(spec.image)
        cli = shutil.which("dagger")
        if cli and not os.environ.get("DAGGER_SESSION_PORT"):
            # The SDK would otherwise download a CLI; use the one the user installed.
            os.environ.setdefault("_EXPERIMENTAL_DAGGER_CLI_BIN", cli)

        names = dict.fromkeys([*spec.secrets, *secrets])  # its own, then any minted for it
        with private_secret_files({n: secrets[n] for n in names if n in secrets}) as files:

            def stage_container(dag: Client) -> Container:
                return build_container(
                    dag, spec, paths, pipeline=self.pipeline, run_id=run_id, git_sha=git_sha,
                    secret_files=files, host_dirs=host_dirs, host_env=os.environ,
                )  # fmt: skip

            def runner(dag: Client) -> Container:
                return runner_image(dag, spec.image, host_dirs)

            async def work() -> ExecOutcome:
                return await self._execute(spec, paths, (runner, stage_container), secrets, output)

            return anyio.run(
                functools.partial(supervise, work, timeout=spec.timeout, cancel=cancel)
            )

    async def _execute(
        self,
        spec: StageSpec,
        paths: StagePaths,
        chains: tuple[Callable[[Client], Container], Callable[[Client], Container]],
        secrets: Mapping[str, str],
        output: Callable[[str], None],
    ) -> ExecOutcome:
        import dagger

        # An isolated connection per stage, so stages may run in parallel threads.
        config = dagger.Config(log_output=self.progress)
        try:
            async with dagger.Connection(config) as dag:
                runner, stage_container = chains
                ctr = stage_container(dag)
                try:
                    ctr = await ctr.sync()
                except dagger.ExecError as exc:  # an image step failed, not the stage
                    emit(exc.stdout + exc.stderr, secrets, output)
                    output(mask(f"runner image step failed: {exc.message}", secrets))
                    return ExecOutcome(exit_code=exc.exit_code or 1)
                emit(await ctr.stdout(), secrets, output)
                emit(await ctr.stderr(), secrets, output)
                code = await ctr.exit_code()
                paths.out.mkdir(parents=True, exist_ok=True)
                await ctr.directory(CONTAINER_OUT).export(str(paths.out))
                await ctr.directory(str(paths.state)).export(str(paths.state))
                image = await runner(dag).rootfs().digest()
                return ExecOutcome(exit_code=code, image_id=image)
        except (dagger.ProvisionError, dagger.ClientConnectionError) as exc:
            raise ExecutorUnavailable(
                f"executor dagger: cannot reach the engine: {mask(str(exc), secrets)}"
            ) from None
        except dagger.ClientError as exc:
            raise StageFailed(f"stage {spec.name}: dagger: {mask(str(exc), secrets)}") from None

    def host_dirs(self, recipe: ImageRecipe) -> HostDirs:
        """Fetch, on the host, what the runner image needs (cached per recipe digest)."""
        archive = self.image_archives.get(recipe.base or "")
        needs_wheels = recipe.requirements or recipe.install_lockgate
        return HostDirs(
            wheelhouse=self._wheelhouse(recipe) if needs_wheels else None, base_archive=archive
        )

    def _wheelhouse(self, recipe: ImageRecipe) -> Path:
        def steps(dest: Path) -> list[list[str]]:
            fetch = []
            if recipe.requirements:
                fetch.append(["-q", "download", "-d", str(dest), "-r", recipe.requirements])
            if recipe.install_lockgate:
                fetch.append(["-q", "wheel", "-w", str(dest), str(_lockgate_source())])
            return fetch

        return cached_wheels(self.wheel_cache, recipe.digest.removeprefix("sha256:"), steps)


def _lockgate_source() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise ExecutorUnavailable(
            "executor dagger: lockgate must be installed from a source checkout to be put into "
            "the runner image; or set `image.lockgate: false` and install it in your image"
        )
    return root
