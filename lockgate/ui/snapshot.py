"""The ledger as the page needs it, kept between requests: entries are parsed once and only
the lines appended since the last request are read; the chain audit runs only when the
committed bytes changed (``IncrementalAudit`` then walks only what was appended). A ledger whose
earlier bytes changed is parsed afresh, and its audit walks the whole chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import Entry, read_line
from lockgate.delivery.ledger.ledger import FileLedger


class LedgerSnapshot:
    def __init__(self, folder: Path, audit: Callable[[], Any] | None = None) -> None:
        self.ledger = FileLedger(folder)
        self.audit_now = audit
        self._lock = threading.Lock()
        self._data = b""
        self._entries: list[Entry] = []
        self._audit: Any = None
        self._audited: bytes | None = None

    def read(self) -> tuple[list[Entry], Any]:
        """The committed entries and the audit report (None when auditing is off)."""
        with self._lock:
            _, data = self.ledger.committed_bytes()
            known = len(self._data)
            if len(data) >= known and data[:known] == self._data:
                fresh = data[known:]
            else:  # rewritten or truncated: start over (the audit will say what happened)
                self._entries, fresh = [], data
            self._entries.extend(read_line(line) for line in fresh.splitlines() if line)
            self._data = data
            if self.audit_now is not None and self._audited != data:
                self._audit, self._audited = self.audit_now(), data
            return list(self._entries), self._audit
