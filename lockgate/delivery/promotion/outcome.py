"""What a promotion, rollback or approval ended as: the status, the lines to show and the ledger
entries it wrote."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    action: str
    environment: str
    digest: str | None
    status: str  # promoted | rolled-back | unchanged | approved | revoked | refused | failed
    lines: tuple[str, ...]
    seqs: tuple[int, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.status in ("refused", "failed") else 0
