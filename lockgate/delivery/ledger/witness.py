"""A record, outside the ledger store, of the newest head this machine has seen of a ledger.

A signed head cannot be forged, but an old signed head can be replayed: keep a copy of
``ledger.head``, let later entries (a revoke) be written, cut ``ledger.jsonl`` back to the copy's
size and put the copy back, and the files verify. Only something that has seen the later head can
tell. The witness is that something: each time lockgate reads or writes a ledger it compares the
head with the highest entry (seq and hash) it recorded for that ledger, refuses a head that is
older or that forks from it, and then records the new maximum.

The witness lives in ``$LOCKGATE_WITNESS_DIR``, else ``$XDG_STATE_HOME/lockgate/witness``, else
``~/.local/state/lockgate/witness``: the account that runs the gate, not the ledger store. One
small JSON file per ledger folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.head import LedgerError


class RolledBack(LedgerError):
    """The ledger's head is older than one this machine has seen, or forks from it."""


def witness_dir() -> Path:
    if os.environ.get("LOCKGATE_WITNESS_DIR"):
        return Path(os.environ["LOCKGATE_WITNESS_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "lockgate" / "witness"


class Witness:
    """The newest (seq, hash) seen of the ledger in ``ledger_folder``."""

    def __init__(self, ledger_folder: Path, folder: Path | None = None) -> None:
        self.ledger_folder = ledger_folder.resolve()
        key = hashlib.sha256(str(self.ledger_folder).encode()).hexdigest()[:32]
        self.path = (folder or witness_dir()) / f"{key}.json"

    def seen(self) -> dict[str, Any] | None:
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise RolledBack(
                f"{self.path}: the record of the newest ledger head seen here is not valid "
                "JSON; restore it or delete it to trust the ledger as it is now"
            ) from None
        return raw if isinstance(raw, dict) else None

    def check(self, seq: int, head_hash: str, hashes: Mapping[int, str] | None = None) -> None:
        """Refuse a head older than the newest seen, or one whose chain drops that entry;
        ``hashes`` (seq -> hash of the ledger's entries) lets the fork check look back."""
        seen = self.seen()
        if not seen:
            return
        s_seq, s_hash = int(seen["seq"]), str(seen["hash"])
        where = f"{self.ledger_folder}: "
        if seq < s_seq:
            raise RolledBack(
                f"{where}rolled back: the head records entry {seq}, but this machine has seen "
                f"entry {s_seq} ({s_hash[:12]}…, recorded in {self.path}); an older head was "
                "restored and later entries removed. Restore the ledger from the team store "
                "or a backup, and run `lockgate audit verify` (only if the ledger was started "
                f"over on purpose: delete {self.path})"
            )
        found = head_hash if seq == s_seq else (hashes or {}).get(s_seq)
        if found is not None and found != s_hash:
            raise RolledBack(
                f"{where}entry {s_seq} is not the one this machine has seen ({found[:12]}… "
                f"instead of {s_hash[:12]}…): the ledger was rewritten from there on; run "
                "`lockgate audit verify`"
            )

    def record(self, seq: int, head_hash: str) -> None:
        seen = self.seen()
        if seen and int(seen["seq"]) >= seq:
            return
        body = {"ledger": str(self.ledger_folder), "seq": seq, "hash": head_hash}
        with contextlib.suppress(OSError):  # a read-only account still checks, records nothing
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(body, sort_keys=True))
            os.replace(tmp, self.path)
