"""Writing a signed audit checkpoint (:mod:`.checkpoint`): audit the ledger's committed bytes
with its key, then append an entry, signed with that key, naming the last entry the audit
covered and its hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lockgate.delivery.ledger import checkpoint
from lockgate.delivery.ledger.audit import AuditReport, audit_bytes
from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import Draft, Entry
from lockgate.delivery.ledger.head import LEDGER_FILE, LedgerError, read_consistent, read_head
from lockgate.delivery.ledger.store import LedgerStore
from lockgate.delivery.ledger.verification import KeyChecker


@dataclass(frozen=True)
class Vouched:
    """What ``write_checkpoint`` did: the audit's report and the entry written (None when the
    audit failed, or too few entries follow the last checkpoint)."""

    report: AuditReport
    written: Entry | None
    through: int = 0
    checked_from: int = 1


def write_checkpoint(
    store: LedgerStore,
    check: KeyChecker,
    *,
    full: bool = False,
    workers: int = 1,
    min_new: int = 1,
) -> Vouched:
    """Audit the committed bytes of ``store`` with ``check`` (this machine's audit record is
    never used; an earlier signed checkpoint is, unless ``full``); when the audit passes and at
    least ``min_new`` entries follow the last checkpoint, append a checkpoint through the store,
    signed by the store's signer. The checkpoint names the audited entry and hash, so an entry
    another writer appends meanwhile stays outside it."""
    folder = store.folder
    head, data = read_consistent(folder)
    if head is None or head.seq == 0:
        raise LedgerError(f"{folder}: the ledger is empty: there is nothing to vouch for")
    report, _, _ = audit_bytes(
        head,
        data,
        check,
        record=AuditRecord(folder, check.key_id),
        skip_audited=False,  # this machine's record never stands in for what it signs
        workers=workers,
        checkpoints=not full,
        keep_parsed=not full,
    )
    if not report.ok:
        return Vouched(report, None)
    if head.seq - _last_checkpoint(data[: head.size], check) < max(min_new, 1):
        return Vouched(report, None, head.seq)
    checked_from = report.checkpoint.through + 1 if report.checkpoint is not None else 1
    entry = store.append(
        Draft(
            action=checkpoint.ACTION,
            actor=f"ledger key {check.key_id.split(':', 1)[-1][:16]}",
            actor_source="ledger-key",
            reason=f"an audit with the ledger key passed entries 1-{head.seq}",
            details=checkpoint.details(head.seq, head.hash, check.key_id, checked_from),
        )
    )
    return Vouched(report, entry, head.seq, checked_from)


def _last_checkpoint(committed: bytes, check: KeyChecker) -> int:
    """The seq of the last checkpoint in the (audited) committed bytes that vouches, else 0."""
    lines = committed.split(b"\n")[:-1]
    found = checkpoint.vouched_lines(lines, len(lines), 1, check)[1]
    return found.seq if found is not None else 0


# A canonical line's keys are sorted and ``action`` sorts first, so a checkpoint's line starts so.
_STARTS = b"{" + checkpoint.MARK
_BLOCK = 1 << 20


def checkpoint_due(folder: Path, every: int) -> bool:
    """Whether at least ``every`` committed entries follow the newest line that starts like a
    checkpoint (or there is none and the ledger holds ``every`` entries). Cheap, for a writer to
    ask after each command: it reads the ledger's end backwards, about ``every`` lines, and
    checks no signature; :func:`write_checkpoint` audits and decides."""
    head = read_head(folder)
    if every < 1 or head is None or head.seq < every:
        return False
    counted = 0
    carry = b""  # the end of a line whose start lies in an earlier block
    with open(folder / LEDGER_FILE, "rb") as file:
        end = head.size
        while end > 0:
            start = max(0, end - _BLOCK)
            file.seek(start)
            block = file.read(end - start) + carry
            end = start
            if start > 0:
                cut = block.find(b"\n") + 1
                if not cut:
                    carry = block
                    continue
                carry, block = block[:cut], block[cut:]
            for line in reversed(block.split(b"\n")[:-1]):
                if line.startswith(_STARTS):
                    return False
                counted += 1
                if counted >= every:
                    return True
    return False
