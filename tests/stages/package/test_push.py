"""Pushing: credentials from secrets (and never in a layer), refusals, a registry that is down,
and a registry that dies mid-push (a real registry behind a proxy that drops every connection
and stops listening when the manifest upload starts, after the layers went up)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.package import main
from tests.serving.bundles import LINEAR_CODE, python_train_output
from tests.stages.conftest import REGISTRY_PASSWORD, free_port
from tests.stages.package.stagerun import stage_context

pytestmark = pytest.mark.docker


def rule_context(
    root: Path, repository: str, base: str, secrets: dict[str, str] | None = None, **extra
):
    ctx = stage_context(
        root,
        {
            "model": "in:train/model",
            "repository": repository,
            "base": base,
            "retry_delay": 0.05,
            "push_retries": 2,
            **extra,
        },
        secrets,
    )
    (ctx.workspace / "linear_rule.py").write_text(LINEAR_CODE)
    python_train_output(ctx.inputs / "train")
    return ctx


def test_credentials_from_secrets_push_and_stay_out_of_the_image(
    tmp_path, auth_registry, base_image, docker_client, capfd
):
    ctx = rule_context(
        tmp_path,
        f"{auth_registry.host}/models/private",
        base_image,
        {"registry_username": auth_registry.user, "registry_password": auth_registry.password},
        version="7",
    )
    assert main(ctx) == 0
    record = json.loads((ctx.out / "image.json").read_text())
    assert auth_registry.manifest_digest("models/private", "7") == record["digest"]
    progress = [
        x for x in capfd.readouterr().err.splitlines() if x.startswith("package: push progress")
    ]
    assert progress, "no byte progress for the push"
    final = re.fullmatch(
        r"package: push progress ([0-9.]+) of ([0-9.]+) MB \((\d+) of (\d+) layers done\)",
        progress[-1],
    )
    assert final and final.group(1) == final.group(2) and final.group(3) == final.group(4)
    saved = b"".join(docker_client.images.get(record["image_id"]).save(named=False))
    assert len(saved) > 1_000_000
    assert REGISTRY_PASSWORD.encode() not in saved
    for name in ("image.json", "report.md", "metrics.json"):
        assert REGISTRY_PASSWORD not in (ctx.out / name).read_text()


def test_bad_credentials_are_refused_at_once(tmp_path, auth_registry, base_image, capfd):
    ctx = rule_context(
        tmp_path,
        f"{auth_registry.host}/models/private",
        base_image,
        {"registry_username": auth_registry.user, "registry_password": "wrong-password-1"},
        retry_delay=30,  # a refusal is not re-tried: this test would take a minute if it were
    )
    started = time.monotonic()
    with pytest.raises(LockgateError) as err:
        main(ctx)
    assert time.monotonic() - started < 25
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"push to {auth_registry.host}/models/private refused: ")
    assert "authentication required" in message
    assert "wrong-password-1" not in message + capfd.readouterr().err
    assert not (ctx.out / "image.json").exists()


def test_registry_down_fails_after_bounded_retries(tmp_path, base_image, capfd):
    host = f"127.0.0.1:{free_port()}"
    ctx = rule_context(tmp_path, f"{host}/models/rule", base_image)
    with pytest.raises(LockgateError) as err:
        main(ctx)
    message = str(err.value)
    assert message.startswith(f"push to {host}/models/rule:") and "after 3 attempt(s)" in message
    assert "connection refused" in message
    assert capfd.readouterr().err.count("retrying in") == 2
    assert not (ctx.out / "image.json").exists()


class DyingProxy:
    """Forwards TCP to a registry until a client starts a manifest PUT; then closes every
    connection and the listening socket, as a registry host that died would."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.dead = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.dead.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if (
                    watch
                    and chunk.startswith(b"PUT ")
                    and b"/manifests/" in chunk.split(b"\r\n")[0]
                ):
                    self.die()
                    return
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def die(self) -> None:
        self.dead.set()
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.die()
        time.sleep(0.1)  # let the pumps see the shutdown
        with self.lock:
            for s in self.sockets:
                s.close()


def test_registry_dying_mid_push_is_a_clear_error(tmp_path, registry, base_image, capfd):
    proxy = DyingProxy(registry.host)
    ctx = rule_context(tmp_path, f"{proxy.host}/models/dying", base_image, version="3")
    try:
        with pytest.raises(LockgateError) as err:
            main(ctx)
    finally:
        proxy.close()
    assert proxy.dead.is_set(), "the push never reached the manifest upload"
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"push to {proxy.host}/models/dying:3 failed after 3 attempt(s): ")
    assert "retrying in" in capfd.readouterr().err
    assert not (ctx.out / "image.json").exists()
