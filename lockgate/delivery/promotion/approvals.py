"""Approvals: who may approve an environment (users and ``@group`` members), and which recorded
approvals count for one digest in one environment now.

An approval is one ``approve`` entry: one approver, one digest, one environment, an expiry. It
stops counting when it expires, when its approver records a ``revoke`` for the same digest and
environment, when the approver is no longer listed (groups can change after the fact), or when
``four_eyes`` is on and the approver authored the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.delivery.ledger.entry import Entry
from lockgate.delivery.promotion.refs import short
from lockgate.errors import LockgateError


@dataclass(frozen=True)
class ApproverRule:
    environment: str
    listed: tuple[str, ...]  # as written in the spec: users and @groups
    members: frozenset[str]  # resolved user names
    required: int
    four_eyes: bool
    ttl: int  # seconds

    def allows(self, names: set[str]) -> bool:
        """``names``: a person's names, and ``@group`` for the groups their key is listed in."""
        return bool(names & self.members) or bool(names & set(self.listed))


def load_groups(spec_groups: Mapping[str, Sequence[str]], groups_file: Path | None) -> dict:
    """The spec's ``groups`` plus the security team's file (its members add to the spec's)."""
    groups = {name: set(members) for name, members in spec_groups.items()}
    if groups_file is None:
        return groups
    from lockgate.spec.yamlpos import load_yaml, read_spec_text

    try:  # read like the spec: core schema, limits, duplicate keys refused, errors located
        raw, _ = load_yaml(read_spec_text(groups_file), str(groups_file))
    except LockgateError as exc:
        raise LockgateError(f"cannot read the approver groups: {exc}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise LockgateError(f"{groups_file}: expected a mapping of group name -> list of members")
    for name, members in raw.items():
        groups.setdefault(str(name), set()).update(str(m) for m in members)
    return groups


def resolve_members(listed: Sequence[str], groups: Mapping[str, set[str]]) -> frozenset[str]:
    out: set[str] = set()
    for item in listed:
        if item.startswith("@"):
            out |= groups.get(item[1:], set())
        else:
            out.add(item)
    return frozenset(out)


@dataclass(frozen=True)
class ApprovalCount:
    valid: tuple[Entry, ...]
    not_counted: tuple[str, ...]  # one line per approval that does not count, and why

    def names(self) -> list[str]:
        return sorted({e.actor for e in self.valid})


def count_approvals(
    entries: Sequence[Entry],
    rule: ApproverRule,
    digest: str,
    now: str,
    author: str | None,
) -> ApprovalCount:
    latest: dict[str, Entry] = {}  # approver -> their last approval for this digest and env
    revoked: dict[str, Entry] = {}
    for e in entries:
        if e.environment != rule.environment or e.digest != digest:
            continue
        if e.action == "approve":
            latest[e.actor] = e
            revoked.pop(e.actor, None)
        elif e.action == "revoke" and e.actor in latest:
            revoked[e.actor] = e
    valid: list[Entry] = []
    skipped: list[str] = []
    for actor, e in sorted(latest.items()):
        expires = str(e.details.get("expires", ""))
        who = f"{actor}'s approval (entry {e.seq})"
        if actor in revoked:
            skipped.append(f"{who} was revoked (entry {revoked[actor].seq})")
        elif expires and expires <= now:
            skipped.append(f"{who} expired at {expires}")
        elif not rule.allows({actor, *e.details.get("actor_names", [])}):
            skipped.append(
                f"{who} does not count: {actor} is not an approver of "
                f"{rule.environment} ({', '.join(rule.listed)})"
            )
        elif rule.four_eyes and author is not None and actor == author:
            skipped.append(
                f"{who} does not count: {actor} authored this change and "
                f"{rule.environment} requires four eyes"
            )
        else:
            valid.append(e)
    return ApprovalCount(tuple(valid), tuple(skipped))


def elsewhere(entries: Sequence[Entry], env: str, digest: str) -> list[str]:
    """Approvals on record that are for another digest or another environment."""
    out = []
    for e in entries:
        if e.action != "approve" or (e.environment == env and e.digest == digest):
            continue
        if e.environment == env:
            out.append(f"{e.actor} approved {short(e.digest)} (entry {e.seq}), another digest")
        elif e.digest == digest:
            out.append(
                f"{e.actor} approved it for {e.environment} (entry {e.seq}), another environment"
            )
    return out[-3:]
