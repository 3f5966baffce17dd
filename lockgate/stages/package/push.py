"""Push the model image and return the digest the registry stored, with bounded re-tries.

A refusal (bad credentials, no access) is final at once; anything else (registry down, a
connection cut mid-push) is re-tried ``retries`` times with doubling delays, then reported in
one line. Credentials travel only in the engine API's auth header, never into a layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError
from lockgate.retrying import AttemptsExhausted, Backoff, TryAgain, retry

_REFUSALS = ("unauthorized", "authentication required", "denied", "forbidden", "no basic auth")


class PushRefused(LockgateError):
    """The registry said no (credentials, permissions): re-trying cannot help."""


@dataclass(frozen=True)
class PushPolicy:
    retries: int = 3
    delay_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep


class PushProgress:
    """Bytes sent so far over all layers, from the engine's progress messages; says a line at
    most every ``every_s`` seconds, and once at the end."""

    def __init__(self, say: Callable[[str], None], every_s: float = 2.0) -> None:
        self.say, self.every_s = say, every_s
        self.layers: dict[str, tuple[int, int]] = {}  # layer id -> (sent, total)
        self.done: set[str] = set()
        self.last = time.monotonic()

    def update(self, chunk: dict[str, Any]) -> None:
        layer, status = str(chunk.get("id", "")), str(chunk.get("status", ""))
        detail = chunk.get("progressDetail") or {}
        if not layer or status.startswith(("The push refers", "Preparing", "Waiting")):
            return
        sent, total = self.layers.get(layer, (0, 0))
        if detail.get("total"):
            sent, total = int(detail.get("current", 0)), int(detail["total"])
        if status in ("Pushed", "Layer already exists"):
            self.done.add(layer)
            sent = total
        self.layers[layer] = (sent, total)
        if time.monotonic() - self.last >= self.every_s:
            self.report()

    def report(self) -> None:
        self.last = time.monotonic()
        sent = sum(s for s, _ in self.layers.values()) / 1e6
        total = sum(t for _, t in self.layers.values()) / 1e6
        self.say(
            f"package: push progress {sent:.1f} of {total:.1f} MB "
            f"({len(self.done)} of {len(self.layers)} layers done)"
        )


def _push_once(
    client: Any, repository: str, tag: str, auth: dict[str, str] | None, progress: PushProgress
) -> str:
    import docker.errors

    digest = ""
    try:
        for chunk in client.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        ):
            progress.update(chunk)
            if "error" in chunk:
                message = " ".join(str(chunk["error"]).split())
                if any(word in message.lower() for word in _REFUSALS):
                    raise PushRefused(f"push to {repository} refused: {message}")
                raise LockgateError(message)
            digest = (chunk.get("aux") or {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise LockgateError(" ".join(str(exc.explanation).split())) from None
    if not digest.startswith("sha256:"):
        raise LockgateError("the registry returned no digest")
    progress.report()
    return digest


def push_image(
    client: Any,
    image_id: str,
    repository: str,
    tag: str,
    auth: dict[str, str] | None,
    policy: PushPolicy,
    say: Callable[[str], None],
) -> str:
    """Tag ``image_id`` as ``repository:tag``, push it, return ``sha256:...``."""
    client.images.get(image_id).tag(repository, tag)

    def attempt(_: int) -> str:
        try:
            return _push_once(client, repository, tag, auth, PushProgress(say))
        except PushRefused:
            raise
        except LockgateError as exc:
            raise TryAgain(str(exc)) from None

    def tell(attempt: int, reason: str, delay: float) -> None:
        say(f"package: push attempt {attempt} failed ({reason}); retrying in {delay:g}s")

    backoff = Backoff(policy.retries + 1, policy.delay_s, sleep=policy.sleep)
    try:
        return retry(attempt, backoff, tell)
    except AttemptsExhausted as exc:
        raise LockgateError(
            f"push to {repository}:{tag} failed after {exc.attempts} attempt(s): {exc.last}"
        ) from None
