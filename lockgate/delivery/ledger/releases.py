"""What the ledger says about releases: what each environment runs, what ran healthy where,
which promotions were begun and never finished, who authored a digest. Pure functions of the
entries; the ledger is the source of truth, not the registry's aliases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lockgate.delivery.ledger.entry import Entry

DEPLOYS = ("promote", "rollback")


@dataclass(frozen=True)
class Release:
    """A deployment of ``digest`` into ``environment`` (a promote or rollback entry)."""

    seq: int
    time: str
    environment: str
    digest: str
    image: str | None
    model: str | None
    action: str
    healthy: bool | None  # None: never checked
    health_seq: int | None = None  # the entry holding that verdict
    marked_by: str | None = None  # set when a person marked it by hand


def releases(entries: Sequence[Entry], env: str) -> list[Release]:
    """Deployments into ``env`` in order, each with its last health verdict before the next."""
    out: list[Release] = []
    for e in entries:
        if e.environment != env:
            continue
        if e.action in DEPLOYS and e.digest:
            out.append(Release(e.seq, e.time, env, e.digest, e.image, e.model, e.action, None))
        elif e.action in ("healthy", "unhealthy") and out and out[-1].digest == e.digest:
            last = out[-1]
            manual = e.details.get("check") == "manual"
            out[-1] = Release(
                **{
                    **last.__dict__,
                    "healthy": e.action == "healthy",
                    "health_seq": e.seq,
                    "marked_by": e.actor if manual else None,
                }
            )
    return out


def current(entries: Sequence[Entry], env: str) -> Release | None:
    found = releases(entries, env)
    return found[-1] if found else None


def ran_healthy(entries: Sequence[Entry], env: str, digest: str) -> bool:
    """A deployment of ``digest`` into ``env`` was followed by a healthy mark for it."""
    return healthy_run(entries, env, digest) is not None


def healthy_run(entries: Sequence[Entry], env: str, digest: str) -> Release | None:
    """The last deployment of ``digest`` into ``env`` that was found healthy."""
    found = [r for r in releases(entries, env) if r.digest == digest and r.healthy]
    return found[-1] if found else None


def open_begin(entries: Sequence[Entry], env: str) -> Entry | None:
    """The last ``begin`` for ``env`` with no promote/rollback/abort that closes it."""
    closed: set[int] = set()
    last: Entry | None = None
    for e in entries:
        if e.environment != env:
            continue
        if e.action == "begin":
            last = e
        elif e.action in (*DEPLOYS, "abort") and "begin" in e.details:
            closed.add(int(e.details["begin"]))
    return last if last is not None and last.seq not in closed else None


def first_with(entries: Sequence[Entry], digest: str, key: str) -> object | None:
    for e in entries:
        if e.digest == digest and e.details.get(key) not in (None, [], ""):
            return e.details[key]
    return None


def first_author(entries: Sequence[Entry], digest: str) -> tuple[str, int] | None:
    """The author the first promotion of ``digest`` recorded (a ``begin`` or ``promote`` that
    passed the gates), with its seq: from then on the change's author is fixed."""
    for e in entries:
        if e.digest == digest and e.action in ("begin", "promote") and e.details.get("author"):
            return str(e.details["author"]), e.seq
    return None


def model_of(entries: Sequence[Entry], digest: str) -> str | None:
    for e in reversed(entries):
        if e.digest == digest and e.model:
            return e.model
    return None


def image_of(entries: Sequence[Entry], digest: str) -> str | None:
    for e in reversed(entries):
        if e.digest == digest and e.image:
            return e.image
    return None
