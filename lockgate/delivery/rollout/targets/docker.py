"""Single-host target: serving containers behind an nginx proxy on one Docker engine.

Per environment: a user-defined bridge network ``lockgate-<env>``, one proxy container
(``lockgate-<env>-proxy``, published on 127.0.0.1 only) and one serving container per version
(``lockgate-<env>-r<N>``, its port also published on 127.0.0.1 so ``/metrics`` can be scraped).
nginx reaches the versions by their address on the network. A weight change writes the routing
file to a temporary name and renames it over the old one inside the mounted config folder, then
sends the master process SIGHUP (what ``nginx -s reload`` sends): old workers finish their
requests, new ones take new connections. The change counts as effective once the proxy reports
the new config generation and no worker of an older generation still takes connections: until an
old worker has handled its shutdown signal it shares the listening socket, so on a busy host it
can accept a new connection after the new generation has answered.
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lockgate.delivery.rollout.accesslog import AccessLogReader
from lockgate.delivery.rollout.targets.base import RouteChange, Version
from lockgate.delivery.rollout.targets.nginx_routes import render_routes
from lockgate.delivery.rollout.targets.proxy_image import (
    CONFIG_DIR,
    LISTEN_PORT,
    LOG_DIR,
    build_proxy_image,
)
from lockgate.errors import LockgateError

ENV_LABEL = "lockgate.delivery.env"
ROLE_LABEL = "lockgate.delivery.role"
VERSION_LABEL = "lockgate.delivery.version"  # r1, r2, ...: what Prometheus selectors match
CONFIRMATIONS = 5  # consecutive answers with the new routing generation
WORKER = "nginx: worker process"  # how nginx titles its workers; old ones add "is shutting down"


class DeployFailed(LockgateError):
    """A version or the proxy could not be started."""


def _get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def _old_workers_gone(proxy: Any) -> bool:
    """Whether one worker alone still takes new connections.

    An old worker renames itself "... is shutting down" as it closes its listening sockets; from
    then on it only finishes what it holds. Until then it shares the socket with the new worker,
    and on a busy host it may not have run since the reload. Read through the engine's process
    list (``docker top``), so nothing runs inside the proxy; an engine that cannot list
    processes counts as gone, leaving the generation streak alone as before."""
    from docker.errors import APIError

    try:
        listing = proxy.top()
    except (APIError, OSError):  # an engine that cannot list processes must not block routing
        return True
    titles = listing.get("Titles") or []
    column = titles.index("CMD") if "CMD" in titles else -1
    commands = [str(row[column]) for row in listing.get("Processes") or []]
    accepting = [c for c in commands if c.startswith(WORKER) and "shutting down" not in c]
    return len(accepting) <= 1


class DockerTarget:
    def __init__(
        self,
        env_name: str,
        settings: Any,
        state_dir: Path,
        *,
        client: Any = None,
        base_image: str = "lockgate/debian:bookworm",
    ) -> None:
        import docker

        self.env_name = env_name
        self.settings = settings.docker
        self.client = client or docker.from_env()
        self.base_image = base_image
        self.folder = Path(state_dir) / env_name
        self.config_dir = self.folder / "proxy"
        self.log_dir = self.folder / "log"
        self.network = f"lockgate-{env_name}"
        self.proxy_name = f"lockgate-{env_name}-proxy"
        self._generation_file = self.config_dir / "generation"

    # -- containers ---------------------------------------------------------------------------
    def _container(self, name: str) -> Any | None:
        import docker

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _ensure_network(self) -> None:
        import docker

        try:
            self.client.networks.get(self.network)
        except docker.errors.NotFound:
            self.client.networks.create(
                self.network, driver="bridge", labels={ENV_LABEL: self.env_name}
            )

    def container_name(self, version: Version) -> str:
        return f"lockgate-{self.env_name}-{version.name}"

    def _published(self, container: Any, port: int) -> str | None:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") == "127.0.0.1":
                return f"127.0.0.1:{binding['HostPort']}"
        return None

    def _wait(self, url: str, what: str, container: Any) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while time.monotonic() < deadline:
            try:
                if _get(url)[0] == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            container.reload()
            if container.status not in ("created", "running"):
                logs = container.logs(tail=5).decode(errors="replace").strip()
                raise DeployFailed(f"{what} exited before answering {url}: {logs}")
            time.sleep(0.05)
        raise DeployFailed(f"{what} did not answer {url} within {self.settings.ready_timeout_s} s")

    def start(self, version: Version) -> None:
        self._ensure_network()
        name = self.container_name(version)
        container = self._container(name)
        if container is not None and container.status != "running":
            container.remove(force=True)
            container = None
        if container is None:
            port = self.settings.container_port
            container = self.client.containers.run(
                version.ref,
                name=name,
                detach=True,
                network=self.network,
                environment={**self.settings.env, **dict(version.env)},
                ports={f"{port}/tcp": ("127.0.0.1", None)},
                labels={
                    ENV_LABEL: self.env_name,
                    ROLE_LABEL: "serving",
                    VERSION_LABEL: version.name,
                    "lockgate.ref": version.ref,
                },
            )
        try:
            url = self.metrics_url(version)
            if url is None:
                container.reload()
                if container.status not in ("created", "running"):
                    logs = container.logs(tail=5).decode(errors="replace").strip()
                    raise DeployFailed(f"{name} exited before answering /ping: {logs}")
                raise DeployFailed(f"{name}: no port published on 127.0.0.1")
            self._wait(f"{url}/ping", name, container)
        except DeployFailed:  # its logs are in the message; a dead container only gets in the way
            container.remove(force=True)
            raise

    def stop(self, version: Version) -> None:
        container = self._container(self.container_name(version))
        if container is not None:
            container.remove(force=True)

    def running(self, version: Version) -> bool:
        container = self._container(self.container_name(version))
        return container is not None and container.status == "running"

    def metrics_url(self, version: Version) -> str | None:
        container = self._container(self.container_name(version))
        if container is None:
            return None
        address = self._published(container, self.settings.container_port)
        return f"http://{address}" if address else None

    def upstream(self, version: Version) -> str | None:
        container = self._container(self.container_name(version))
        if container is None:
            return None
        container.reload()
        network = container.attrs["NetworkSettings"]["Networks"].get(self.network) or {}
        ip = network.get("IPAddress")
        return f"{ip}:{self.settings.container_port}" if ip else None

    # -- the proxy ----------------------------------------------------------------------------
    def _generation(self) -> int:
        try:
            return int(self._generation_file.read_text())
        except (OSError, ValueError):
            return 0

    def _write_routes(self, servers: Mapping[str, int]) -> int:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        generation = self._generation() + 1
        tmp = self.config_dir / f".routes.conf.{os.getpid()}.tmp"
        tmp.write_text(render_routes(servers, generation))
        os.replace(tmp, self.config_dir / "routes.conf")  # atomic: nginx never reads half a file
        gen_tmp = self.config_dir / f".generation.{os.getpid()}.tmp"
        gen_tmp.write_text(str(generation))
        os.replace(gen_tmp, self._generation_file)
        return generation

    def ensure_proxy(self) -> Any:
        self._ensure_network()
        proxy = self._container(self.proxy_name)
        if proxy is not None and proxy.status == "running":
            return proxy
        if proxy is not None:
            proxy.remove(force=True)
        if not (self.config_dir / "routes.conf").exists():
            self._write_routes({})
        self.log_dir.mkdir(parents=True, exist_ok=True)
        image = build_proxy_image(self.client, self.base_image)
        port = self.settings.port or None
        proxy = self.client.containers.run(
            image,
            name=self.proxy_name,
            detach=True,
            network=self.network,
            ports={f"{LISTEN_PORT}/tcp": ("127.0.0.1", port)},
            volumes={
                str(self.config_dir.resolve()): {"bind": CONFIG_DIR, "mode": "ro"},
                str(self.log_dir.resolve()): {"bind": LOG_DIR, "mode": "rw"},
            },
            labels={ENV_LABEL: self.env_name, ROLE_LABEL: "proxy"},
        )
        self._wait(f"{self.url()}/lockgate-proxy/generation", self.proxy_name, proxy)
        return proxy

    def url(self) -> str:
        proxy = self._container(self.proxy_name)
        address = self._published(proxy, LISTEN_PORT) if proxy is not None else None
        if address is None:
            raise DeployFailed(f"{self.proxy_name} is not running: run `lockgate rollout status`")
        return f"http://{address}"

    def route(self, weights: Mapping[Version, int]) -> RouteChange:
        asked = time.time()
        servers: dict[str, int] = {}
        for version, weight in weights.items():
            if weight <= 0:
                continue
            address = self.upstream(version)
            if address is None:
                raise DeployFailed(f"{self.container_name(version)} has no address to route to")
            servers[address] = weight
        proxy = self._container(self.proxy_name)
        fresh = proxy is None or proxy.status != "running"
        generation = self._write_routes(servers)  # a new proxy starts with these routes
        proxy = self.ensure_proxy()
        if not fresh:
            proxy.kill(signal="SIGHUP")  # == nginx -s reload: graceful
        self._await_generation(proxy, generation)
        return RouteChange({v.name: w for v, w in weights.items()}, asked, time.time())

    def _await_generation(self, proxy: Any, generation: int) -> None:
        """Until the proxy answers with ``generation`` several times in a row: right after a
        reload an old worker may still accept a connection or two."""
        url = f"{self.url()}/lockgate-proxy/generation"
        want, streak = str(generation).encode(), 0
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                streak = streak + 1 if _get(url)[1].strip() == want else 0
            except (urllib.error.URLError, OSError):
                streak = 0
            if streak >= CONFIRMATIONS and _old_workers_gone(proxy):
                return
            time.sleep(0.005)
        logs = proxy.logs(tail=5).decode(errors="replace").strip()
        raise DeployFailed(
            f"{self.proxy_name} did not load routing generation {generation}: {logs}"
        )

    def access_log(self) -> AccessLogReader:
        return AccessLogReader(self.log_dir / "access.log")

    def sweep(self, keep: Iterable[Version]) -> list[str]:
        wanted = {self.container_name(v) for v in keep} | {self.proxy_name}
        removed = []
        for container in self.client.containers.list(
            all=True, filters={"label": f"{ENV_LABEL}={self.env_name}"}
        ):
            if container.name not in wanted:
                container.remove(force=True)
                removed.append(container.name)
        return removed

    def teardown(self) -> None:
        """Remove every container and the network of this environment."""
        import docker

        self.sweep(())
        proxy = self._container(self.proxy_name)
        if proxy is not None:
            proxy.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.networks.get(self.network).remove()
