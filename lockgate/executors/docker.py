"""Run a stage in a container through the Docker Engine API (or Podman's compatible socket).

Mounts follow the stage contract: the project read-only at /workspace, each upstream output
read-only under /lockgate/in, a fresh /lockgate/out, secrets read-only under /run/secrets, the
state folder at the host's own path, declared caches at their paths. The container runs as the
calling user, so outputs on the host are the user's. GPUs come through device requests.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lockgate.contract import (
    CONTAINER_IN,
    CONTAINER_OUT,
    CONTAINER_SECRETS,
    CONTAINER_WORKSPACE,
)
from lockgate.engine.executor import ExecOutcome, OutputSink
from lockgate.engine.stage_env import base_env
from lockgate.engine.stagespec import ImageRecipe, StagePaths, StageSpec, contract_env
from lockgate.errors import ExecutorUnavailable, LockgateError
from lockgate.executors.stage_tools import stage_tools

_STOP_GRACE_S = 5
RUN_LABEL = "dev.lockgate.run"


class DockerExecutor:
    name: ClassVar[str] = "docker"

    def __init__(
        self, project: Path | None = None, *, pipeline: str = "", client: Any = None
    ) -> None:
        self.project = project
        self._client = client
        self._images: Any = None
        self._in_use: frozenset[str] = frozenset()

    @property
    def client(self) -> Any:
        if self._client is None:
            self.check()
        return self._client

    def check(self) -> None:
        if self._client is not None:
            return
        try:
            import docker
            import docker.errors
        except ImportError:
            raise ExecutorUnavailable(
                "the docker executor needs the `docker` package: pip install 'lockgate[docker]'"
            ) from None
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            client = docker.from_env(timeout=120)
            client.ping()
        except docker.errors.DockerException as exc:
            reason = str(exc).split("(")[0].strip() or type(exc).__name__
            raise ExecutorUnavailable(
                f"no Docker engine answers at {where} ({reason}); start Docker or Podman "
                "(`podman system service`, then DOCKER_HOST=unix://...), or choose "
                "--executor local"
            ) from None
        self._client = client

    def use_images(self, tags: Iterable[str]) -> None:
        """The runner images the spec's stages run in, none of which a build's hint about older
        images may count."""
        self._in_use = frozenset(tags)
        if self._images is not None:
            self._images.in_use = self._in_use

    def _runner_images(self) -> Any:
        from lockgate.images.runner import RunnerImages

        if self._images is None:
            self._images = RunnerImages(self.client, in_use=self._in_use)
        return self._images

    def prepare_image(self, recipe: ImageRecipe, output: OutputSink) -> bool:
        """Find or build the stage image before the stage starts; True when it was built."""
        images = self._runner_images()
        had = images.present(recipe)
        images.ensure(recipe, output)
        return not had

    def run(
        self,
        spec: StageSpec,
        paths: StagePaths,
        *,
        run_id: str,
        git_sha: str,
        secrets: Mapping[str, str],
        output: OutputSink,
        cancel: threading.Event,
    ) -> ExecOutcome:
        image_id = self._runner_images().ensure(spec.image, output)
        env = base_env(os.environ, in_container=True, engine=spec.engine)
        env.update(
            contract_env(spec, run_id=run_id, git_sha=git_sha, paths=paths, in_container=True)
        )
        env.setdefault("HOME", "/tmp")
        if spec.engine:
            env["DOCKER_HOST"] = f"unix://{ENGINE_SOCKET_IN_CONTAINER}"
        env["PYTHONUNBUFFERED"] = "1"
        import docker.errors

        gpus = self._gpu_requests(spec, output)
        try:
            container = self._create(spec, paths, image_id, env, run_id, gpus)
        except docker.errors.APIError as exc:
            raise LockgateError(f"the engine refused the container: {exc.explanation}") from None
        try:
            return self._supervise(container, spec, image_id, output, cancel)
        except docker.errors.APIError as exc:
            raise LockgateError(
                f"the engine could not start the stage: {exc.explanation}"
            ) from None
        finally:
            with contextlib.suppress(Exception):  # already gone (engine restarted)
                container.remove(force=True)

    def _gpu_requests(self, spec: StageSpec, output: OutputSink) -> list[Any]:
        """Device requests for a GPU stage; on an engine without a GPU runtime the stage runs
        on the CPU with a warning (laptops, CPU-only CI), unless LOCKGATE_REQUIRE_GPU=1."""
        if not spec.gpu:
            return []
        runtimes = self.client.info().get("Runtimes") or {}
        if "nvidia" in runtimes or os.environ.get("LOCKGATE_FORCE_GPU_REQUEST") == "1":
            return _gpus(spec.gpu)
        if os.environ.get("LOCKGATE_REQUIRE_GPU") == "1":
            raise LockgateError(
                f"stage {spec.name} needs {spec.gpu} GPU(s) but this engine has no GPU runtime "
                "(install the NVIDIA container toolkit)"
            )
        output(
            f"lockgate: warning: stage {spec.name} asks for GPU(s) but this engine has no GPU "
            "runtime; running on the CPU (set LOCKGATE_REQUIRE_GPU=1 to fail instead)"
        )
        return []

    def _create(
        self,
        spec: StageSpec,
        paths: StagePaths,
        image_id: str,
        env: dict[str, str],
        run_id: str,
        gpus: list[Any],
    ) -> Any:
        from docker.types import Mount

        tools = stage_tools(spec.uses)
        mounts = _mounts(spec, paths) + [
            Mount(target=inside, source=str(host), type="bind", read_only=True)
            for host, inside in tools.mounts
        ]
        extra: dict[str, Any] = {"network_mode": "host"} if tools.host_network else {}
        return self.client.containers.create(
            image_id,
            command=list(spec.argv),
            environment={**env, **tools.env},
            working_dir=CONTAINER_WORKSPACE,
            user=f"{os.getuid()}:{os.getgid()}",
            group_add=_socket_group(spec),
            mounts=mounts,
            device_requests=gpus,
            labels={RUN_LABEL: run_id, "dev.lockgate.stage": spec.name},
            init=True,  # a real PID 1 forwards SIGTERM so stages stop promptly
            detach=True,
            # the engine keeps no copy of what the stage prints (its json-file log would hold
            # the lines unmasked and unsealed): lockgate reads them through an attach
            log_config={"type": "none", "config": {}},
            **extra,
        )

    def _supervise(
        self,
        container: Any,
        spec: StageSpec,
        image_id: str,
        output: OutputSink,
        cancel: threading.Event,
    ) -> ExecOutcome:
        # attached before it starts, so no line is missed
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=False)
        container.start()
        pump = threading.Thread(target=_pump_lines, args=(stream, output), daemon=True)
        pump.start()
        result: dict[str, Any] = {}
        waiter = threading.Thread(target=lambda: result.update(container.wait()), daemon=True)
        waiter.start()
        deadline = time.monotonic() + spec.timeout if spec.timeout else None
        timed_out = interrupted = False
        while waiter.is_alive():
            if cancel.wait(0.05):
                interrupted = True
            elif deadline is not None and time.monotonic() > deadline:
                timed_out = True
            if timed_out or interrupted:
                container.stop(timeout=_STOP_GRACE_S)
                waiter.join(timeout=_STOP_GRACE_S + 5)
                break
        pump.join(timeout=5)
        code = int(result.get("StatusCode", 137 if (timed_out or interrupted) else 1))
        return ExecOutcome(
            exit_code=code, image_id=image_id, timed_out=timed_out, interrupted=interrupted
        )


def _pump_lines(stream: Any, output: OutputSink) -> None:
    buffer = b""
    for chunk in stream:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            output(line.decode("utf-8", "replace"))
    if buffer:
        output(buffer.decode("utf-8", "replace"))


def _mounts(spec: StageSpec, paths: StagePaths) -> list[Any]:
    from docker.types import Mount

    def bind(target: str, source: Path, read_only: bool) -> Any:
        return Mount(target, str(source.resolve()), type="bind", read_only=read_only)

    mounts = [
        bind(CONTAINER_WORKSPACE, paths.workspace, True),
        bind(CONTAINER_OUT, paths.out, False),
        bind(CONTAINER_SECRETS, paths.secrets_dir, True),
        bind(str(paths.state), paths.state, False),
    ]
    mounts += [
        bind(f"{CONTAINER_IN}/{name}", folder, True) for name, folder in paths.inputs.items()
    ]
    mounts += [bind(path, paths.caches[name], False) for name, path in spec.caches]
    socket = engine_socket()
    if spec.engine and socket is not None:
        mounts.append(bind(ENGINE_SOCKET_IN_CONTAINER, socket, False))
    return mounts


ENGINE_SOCKET_IN_CONTAINER = "/var/run/docker.sock"


def engine_socket() -> Path | None:
    """The host path of the engine's unix socket, when the engine is reached through one."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None
    path = Path(host.removeprefix("unix://"))
    return path if path.exists() else None


def _socket_group(spec: StageSpec) -> list[str]:
    """The socket's group, so a non-root stage user may talk to the engine."""
    socket = engine_socket() if spec.engine else None
    return [str(socket.stat().st_gid)] if socket is not None else []


def _gpus(gpu: int | str) -> list[Any]:
    if not gpu:
        return []
    from docker.types import DeviceRequest

    count = -1 if gpu == "all" else int(gpu)
    return [DeviceRequest(count=count, capabilities=[["gpu"]])]
