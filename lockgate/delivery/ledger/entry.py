"""One ledger entry and its byte-exact line form.

A line is the canonical JSON of the entry's body (sorted keys, no spaces) with ``"hash"`` added as
the last key. The hash is the sha256 of the body bytes, and the body holds the previous entry's
hash (``prev``), so the entries form a chain: changing any byte of any entry breaks every hash
from there on. Verifying needs no re-serialisation: the body is the line up to ``,"hash":"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
HASH_MARK = b',"hash":"'
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# what an entry can record; everything a promotion decides is one of these
ACTIONS = (
    "approve",  # an approver approves one digest for one environment
    "revoke",  # an approver withdraws their approval
    "begin",  # a promotion or rollback starts (intent; completed by promote/rollback/abort)
    "promote",  # a digest was deployed to the environment
    "rollback",  # an earlier digest was deployed back
    "abort",  # a begun promotion/rollback did not complete (deploy failed, interrupted)
    "healthy",  # the release in the environment was checked or marked healthy
    "unhealthy",  # ... or unhealthy
    "refuse",  # a gate refused a promotion, rollback, approval, revocation, health mark or rollout
    "unchanged",  # a promotion found the environment already running the digest: nothing deployed
    "checkpoint",  # the ledger key's holder audited every entry before this one (.checkpoint)
    "rollout",  # a rollout decision: a person's (start, retry, resume, promote, abort) or the
    # analysis's own (it completed, aborted or paused the canary after that decision)
)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, so times compare correctly as strings."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """``2026-11-20T10:00Z``, ``2026-11-20T10:00:00+01:00``, ``2026-11-20`` -> aware UTC."""
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Draft:
    """What a caller wants recorded; the ledger adds seq, time, prev and hash."""

    action: str
    actor: str
    actor_source: str
    environment: str | None = None
    digest: str | None = None
    image: str | None = None
    model: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown ledger action {self.action!r}")


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    action: str
    actor: str
    actor_source: str
    environment: str | None
    digest: str | None
    image: str | None
    model: str | None
    reason: str | None
    details: Mapping[str, Any]
    prev: str
    hash: str
    signature: str | None = None

    def body(self) -> dict[str, Any]:
        """Everything the hash covers (the signature included)."""
        out = {
            "seq": self.seq,
            "time": self.time,
            "action": self.action,
            "actor": self.actor,
            "actor_source": self.actor_source,
            "environment": self.environment,
            "digest": self.digest,
            "image": self.image,
            "model": self.model,
            "reason": self.reason,
            "details": dict(self.details),
            "prev": self.prev,
        }
        if self.signature is not None:
            out["signature"] = self.signature
        return out

    def signed_payload(self) -> bytes:
        """What a signature covers: the body without the signature."""
        body = self.body()
        body.pop("signature", None)
        return canonical(body)

    def line(self) -> bytes:
        body = canonical(self.body())
        return body[:-1] + HASH_MARK + self.hash.encode() + b'"}\n'

    @classmethod
    def from_body(cls, body: Mapping[str, Any], digest_hex: str) -> Entry:
        # A frozen dataclass's __init__ sets each field through object.__setattr__; filling the
        # instance's __dict__ at once builds the same value in a fraction of the time, which
        # counts when a gate reads a ledger of 100,000 entries.
        entry = object.__new__(cls)
        entry.__dict__.update(
            seq=body["seq"],
            time=body["time"],
            action=body["action"],
            actor=body["actor"],
            actor_source=body["actor_source"],
            environment=body.get("environment"),
            digest=body.get("digest"),
            image=body.get("image"),
            model=body.get("model"),
            reason=body.get("reason"),
            details=body.get("details") or {},
            prev=body["prev"],
            hash=digest_hex,
            signature=body.get("signature"),
        )
        return entry


def seal(draft: Draft, seq: int, time: str, prev: str, sign: Any = None) -> Entry:
    """Turn a draft into the entry at ``seq``; ``sign(payload) -> str`` signs it if given."""
    entry = Entry(
        seq=seq,
        time=time,
        action=draft.action,
        actor=draft.actor,
        actor_source=draft.actor_source,
        environment=draft.environment,
        digest=draft.digest,
        image=draft.image,
        model=draft.model,
        reason=draft.reason,
        details=dict(draft.details),
        prev=prev,
        hash="",
    )
    if sign is not None:
        entry = Entry(**{**entry.__dict__, "signature": sign(entry.signed_payload())})
    digest_hex = hashlib.sha256(canonical(entry.body())).hexdigest()
    return Entry(**{**entry.__dict__, "hash": digest_hex})


# The canonical body ends with these top-level keys, in this (sorted) order; a JSON string
# cannot hold an unescaped quote, so this tail can only match the object's own last members.
_TAIL = re.compile(
    rb'"prev":"([0-9a-f]{64})","reason":(?:null|"(?:[^"\\]|\\.)*"),"seq":([0-9]+),'
    rb'("signature":"([A-Za-z0-9+/=]*)",)?"time":"([0-9T:.Z-]{27})"\}\Z'
)


class LineError(ValueError):
    """A line that is not a well-formed entry, or whose hash does not match its body."""


def read_line(line: bytes) -> Entry:
    """Parse and hash-check one line (with or without its newline)."""
    line = line.rstrip(b"\n")
    cut = line.rfind(HASH_MARK)
    if cut < 0 or not line.endswith(b'"}'):
        raise LineError("not a ledger entry (no trailing hash)")
    body_bytes = line[:cut] + b"}"
    claimed = line[cut + len(HASH_MARK) : -2].decode("ascii", "replace")
    actual = hashlib.sha256(body_bytes).hexdigest()
    if actual != claimed:
        raise LineError(
            f"hash mismatch: recorded {claimed[:12]}…, content hashes to {actual[:12]}…"
        )
    try:
        body = json.loads(body_bytes)
        if not isinstance(body, dict) or not isinstance(body.get("details") or {}, dict):
            raise TypeError("its body and its details must be JSON objects")
        return Entry.from_body(body, claimed)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise LineError(f"not a ledger entry ({exc})") from None


# where, in a canonical line, the signature member sits: (start and end of the whole
# ``"signature":"...",`` member, start and end of the base64 text, where ``,"hash":"`` begins)
SignatureSpan = tuple[int, int, int, int, int]


def read_chain(line: bytes) -> tuple[int, str, str, str]:
    """Hash-check one line and return (seq, prev, time, hash) without parsing the whole body:
    the fast path of ``audit verify``."""
    seq, prev, when, digest_hex, _ = chain_fields(line)
    return seq, prev, when, digest_hex


def chain_fields(line: bytes) -> tuple[int, str, str, str, SignatureSpan | None]:
    """:func:`read_chain`, and where the line's signature sits (None when it has none), so that
    what the signature covers is cut later without matching the line again."""
    cut = line.rfind(HASH_MARK)
    if cut < 0 or not line.endswith(b'"}'):
        raise LineError("not a ledger entry (no trailing hash)")
    body = line[:cut] + b"}"
    claimed = line[cut + len(HASH_MARK) : -2].decode("ascii", "replace")
    actual = hashlib.sha256(body).hexdigest()
    if actual != claimed:
        raise LineError(
            f"hash mismatch: recorded {claimed[:12]}…, content hashes to {actual[:12]}…"
        )
    m = _TAIL.search(body)
    if m is None or not body.startswith(b'{"action":"'):
        raise LineError("not a ledger entry in canonical form")
    span = None if m[3] is None else (m.start(3), m.end(3), m.start(4), m.end(4), cut)
    return int(m[2]), m[1].decode(), m[5].decode(), claimed, span


def cut_signed(line: bytes, span: SignatureSpan) -> tuple[bytes, str]:
    """(what the signature covers, the signature) of a line :func:`chain_fields` matched."""
    start, end, sig_start, sig_end, cut = span
    return line[:start] + line[end:cut] + b"}", line[sig_start:sig_end].decode()


def signed_parts(line: bytes) -> tuple[bytes, str] | None:
    """(what the signature covers, the signature) straight from a canonical line's bytes: the
    body with its ``"signature":"...",`` member cut out is byte for byte what
    :meth:`Entry.signed_payload` re-serialises, without parsing the JSON. None when the canonical
    tail holds no signature (the caller then falls back to :func:`read_line`)."""
    cut = line.rfind(HASH_MARK)
    if cut < 0:
        return None
    body = line[:cut] + b"}"
    m = _TAIL.search(body)
    if m is None or m[3] is None:
        return None
    return body[: m.start(3)] + body[m.end(3) :], m[4].decode()
