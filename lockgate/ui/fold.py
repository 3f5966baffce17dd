"""The ledger folded once into what the release page needs, and extended as the ledger grows.

One pass over the entries gives what each environment runs (``timeline.apply``), the approvals
given per environment and digest (a ``revoke`` takes one back), the last ``begin`` per
environment and the begins that a deploy or abort closed, and the digests in order of first
appearance. The page keeps one fold for "now" and adds only the entries appended since the last
request; a ledger whose earlier entries changed is folded afresh.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from lockgate.delivery.ledger.entry import Entry
from lockgate.delivery.ledger.releases import DEPLOYS
from lockgate.delivery.ledger.timeline import State, apply


@dataclass
class LedgerFold:
    seen: list[Entry] = field(default_factory=list)  # the entries folded, in order
    state: State = field(default_factory=dict)
    environments: dict[str, None] = field(default_factory=dict)  # in order of appearance
    approvals: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    begins: dict[str, Entry] = field(default_factory=dict)
    closed: dict[str, set[int]] = field(default_factory=dict)
    digests: dict[str, None] = field(default_factory=dict)

    def add(self, e: Entry) -> None:
        apply(self.state, e)
        self.seen.append(e)
        if e.digest:
            self.digests.setdefault(e.digest)
        env = e.environment
        if not env:
            return
        self.environments.setdefault(env)
        if e.digest and e.action in ("approve", "revoke"):
            given = self.approvals.setdefault((env, e.digest), {})
            if e.action == "approve":
                given[e.actor] = e.time
            else:
                given.pop(e.actor, None)
        if e.action == "begin":
            self.begins[env] = e
        elif e.action in (*DEPLOYS, "abort") and "begin" in e.details:
            self.closed.setdefault(env, set()).add(int(e.details["begin"]))

    def approved(self, env: str, digest: str) -> tuple[tuple[str, str], ...]:
        """(who, when) of the approvals of ``digest`` for ``env`` still standing, by time."""
        given = self.approvals.get((env, digest), {})
        return tuple(sorted(given.items(), key=lambda item: item[1]))

    def open_begin(self, env: str) -> Entry | None:
        """The last ``begin`` for ``env`` that no deploy or abort closed."""
        begun = self.begins.get(env)
        return begun if begun is not None and begun.seq not in self.closed.get(env, ()) else None

    @property
    def count(self) -> int:
        return len(self.seen)

    def follows(self, entries: Sequence[Entry]) -> bool:
        """``entries`` start with the very entries folded so far (the same objects: entries
        are frozen, and a ledger read afresh gives new ones, which are folded afresh)."""
        return len(entries) >= self.count and all(map(operator.is_, entries, self.seen))


def fold(entries: Sequence[Entry], into: LedgerFold | None = None) -> LedgerFold:
    """``into`` extended with the entries it has not seen, or a new fold of them all."""
    done = into if into is not None and into.follows(entries) else LedgerFold()
    for e in entries[done.count :]:
        done.add(e)
    return done
