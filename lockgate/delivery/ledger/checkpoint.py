"""Signed audit checkpoints: a key holder's passing audit, recorded in the ledger, so that a
machine that never audited the ledger does not check every signature again.

A checkpoint is an ordinary entry (action ``checkpoint``), appended by ``lockgate audit
checkpoint`` right after an audit with the ledger's key passed. Its details name the last entry
that audit covered (``through``, with that entry's hash) and the key it checked with. Like every
entry it is signed with the ledger key and chained: its ``prev`` commits to every byte before it.

An audit with the key that finds a checkpoint whose own signature verifies, and whose
``through_hash`` is the hash the chain records for entry ``through``, checks the chain of every
line as always (each line's sha256, seqs, links, times) but does not check the Ed25519
signatures of entries 1..``through`` again: the holder of the ledger key already did, and
signed that it did. Only the holder of that key can write a checkpoint that verifies, and the
same holder could sign any entry, so a checkpoint asks for no trust the key does not already
carry. ``lockgate audit verify --full`` ignores checkpoints and checks every signature.

A checkpoint is found without parsing every line: the last occurrence of the action's bytes in
the walked lines is located, and only that line is parsed (a ``details`` member that happens to
hold the same bytes is parsed, found not to be a checkpoint, and the search goes on before it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.delivery.ledger.entry import LineError, read_chain, read_line

ACTION = "checkpoint"
MARK = b'"action":"' + ACTION.encode() + b'"'


@dataclass(frozen=True)
class Checkpoint:
    """Entry ``seq`` vouches for the signatures of entries 1..``through``."""

    seq: int
    through: int
    through_hash: str
    actor: str
    time: str


@dataclass(frozen=True)
class _Candidate(Checkpoint):
    """A checkpoint before its signature is checked: what the signature covers, and it."""

    payload: bytes = b""
    signature: str = ""


def details(through: int, through_hash: str, key_id: str, checked_from: int) -> dict[str, Any]:
    """What a checkpoint records: the last entry the audit covered, its hash, the key it
    checked with, and the first entry whose signature that audit checked itself (1, or the one
    after an earlier checkpoint's range)."""
    return {
        "through": through,
        "through_hash": through_hash,
        "key": key_id,
        "signatures_checked_from": checked_from,
    }


def vouched_lines(
    lines: Sequence[bytes],
    linked: int,
    first_seq: int,
    check: Callable[[bytes, str], bool],
) -> tuple[int, Checkpoint | None]:
    """How many of ``lines[:linked]`` (their links already checked; ``lines[0]`` is entry
    ``first_seq``) the newest checkpoint among them vouches for, and that checkpoint; (0, None)
    when there is none, when it covers nothing of these lines, or when a checkpoint's signature
    does not verify (a forged one: every signature is then checked, and it fails there)."""
    index = linked
    while index > 0:
        index = _last_marked(lines, index)
        if index < 0:
            return 0, None
        found = _checkpoint(lines[index], first_seq + index)
        if found is None:
            continue  # the bytes sit inside another entry's details, or it names no range
        vouched = found.through - first_seq + 1  # lines of this walk it covers
        if vouched <= 0:
            return 0, None  # it covers only what an earlier prefix did
        # entry ``through`` is lines[vouched - 1]; the line after it (at most the checkpoint
        # itself) records its hash, and the walk has checked that link
        if read_chain(lines[vouched])[1] != found.through_hash:
            continue
        if not check(found.payload, found.signature):
            return 0, None
        return vouched, Checkpoint(
            found.seq, found.through, found.through_hash, found.actor, found.time
        )
    return 0, None


def _last_marked(lines: Sequence[bytes], before: int) -> int:
    """The index of the last line before ``before`` that holds the checkpoint action's bytes."""
    for index in range(before - 1, -1, -1):
        if MARK in lines[index]:
            return index
    return -1


def _checkpoint(line: bytes, seq: int) -> _Candidate | None:
    """The checkpoint ``line`` holds, when it is one and is entry ``seq`` (its signature is
    checked by the caller, last)."""
    try:
        entry = read_line(line)
    except LineError:
        return None
    if entry.action != ACTION or entry.seq != seq or entry.signature is None:
        return None
    through = _through(entry.details)
    if through is None or not 0 < through < seq:
        return None
    return _Candidate(
        seq,
        through,
        str(entry.details["through_hash"]),
        entry.actor,
        entry.time,
        entry.signed_payload(),
        entry.signature,
    )


def _through(found: Mapping[str, Any]) -> int | None:
    value = found.get("through")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not isinstance(found.get("through_hash"), str):
        return None
    return value
