"""What the release page shows, computed from the ledger entries and the rollout records as
plain data: environments, pending approvals, rollouts, the timeline, all as of a time ``at``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import Entry
from lockgate.ui.fold import LedgerFold, fold

TIMELINE_ROWS = 200


@dataclass(frozen=True)
class EnvironmentRow:
    name: str
    digest: str | None
    image: str | None
    model: str | None
    deployed_by: str | None
    deployed_at: str | None
    approvers: tuple[tuple[str, str], ...]  # (who, when) of approvals of the current digest
    healthy: bool | None


@dataclass(frozen=True)
class PendingApproval:
    environment: str
    digest: str
    since: str
    begun_by: str
    approvals: tuple[str, ...]


@dataclass(frozen=True)
class Overview:
    at: str | None
    upto_seq: int
    environments: tuple[EnvironmentRow, ...]
    pending: tuple[PendingApproval, ...]
    rollouts: tuple[dict[str, Any], ...]
    timeline: tuple[Entry, ...]
    audit: Any = None  # AuditReport, or None when not checked
    digests: tuple[str, ...] = field(default_factory=tuple)


def load_rollouts(folder: Path | None) -> tuple[dict[str, Any], ...]:
    if folder is None or not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now; the next request reads it
    return tuple(found)


def build(
    entries: Sequence[Entry],
    rollouts: tuple[dict[str, Any], ...] = (),
    at: str | None = None,
    audit: Any = None,
    folded: LedgerFold | None = None,
) -> Overview:
    """The page as of ``at`` (an entry time; ``None``: now). Times sort as text (one format).
    ``folded``: the entries already folded (``ui/fold.py``), for "now" only."""
    upto = entries if at is None else [e for e in entries if e.time <= at]
    done = fold(upto, folded if at is None else None)
    rows = []
    pending = []
    for env in done.environments:
        now = done.state.get(env)
        digest = now["digest"] if now else None
        rows.append(
            EnvironmentRow(
                env,
                digest,
                now["image"] if now else None,
                now["model"] if now else None,
                now["actor"] if now else None,
                now["time"] if now else None,
                done.approved(env, digest) if digest else (),
                now["healthy"] if now else None,
            )
        )
        begun = done.open_begin(env)
        if begun is not None and begun.digest:
            who = tuple(who for who, _ in done.approved(env, begun.digest))
            pending.append(PendingApproval(env, begun.digest, begun.time, begun.actor, who))
    return Overview(
        at,
        upto[-1].seq if upto else 0,
        tuple(rows),
        tuple(pending),
        rollouts if at is None else (),
        tuple(upto[-TIMELINE_ROWS:]),
        audit,
        tuple(done.digests),
    )
