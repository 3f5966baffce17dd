"""The team ledger: a dedicated git branch (``lockgate-ledger``) holding ``ledger.jsonl`` and
``ledger.head``, pushed to the repository's remote. Every entry is one commit on that branch.

The push is the compare-and-swap: an append fetches the branch, seals the entry on top of the
remote's last entry, commits with the remote tip as parent and pushes. A push rejected as
non-fast-forward means someone else appended first: fetch and retry (bounded, with jitter). A
local mirror in ``.lockgate/ledger/`` (the same files as the embedded store) serves reads, audit
and ``history --at``. A remote that lost entries the mirror has seen (a force-push, a deleted
branch) is refused, not followed. The branch is written with git plumbing only: the user's
working tree, index and current branch are never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import Draft, Entry, format_time, seal
from lockgate.delivery.ledger.ledger import (
    HEAD_FILE,
    LEDGER_FILE,
    Checker,
    Clock,
    FileLedger,
    Head,
    LedgerError,
    Signer,
    utc_now,
    write_atomic,
)
from lockgate.delivery.ledger.witness import RolledBack, Witness
from lockgate.retrying import AttemptsExhausted, Backoff, TryAgain, retry

TRACKING_REF = "refs/lockgate/ledger-remote"
ATTEMPTS = 30
# Writers that lost a race wait a little longer each time, spread apart by jitter.
CONTENTION = Backoff(ATTEMPTS, first_s=0.03, factor=1.15, jitter=0.66)


class GitLedger:
    def __init__(
        self,
        repo: Path,
        folder: Path,
        *,
        branch: str = "lockgate-ledger",
        remote: str = "origin",
        clock: Clock = utc_now,
        signer: Signer | None = None,
        notice: Callable[[str], None] = lambda message: None,
        checker: Checker | None = None,
        witness: Witness | None = None,
        audited: AuditRecord | None = None,
    ) -> None:
        self.repo = repo
        self.folder = folder
        self.branch = branch
        self.remote = remote
        self.clock = clock
        self.signer = signer
        self.notice = notice
        self.mirror = FileLedger(
            folder,
            clock=clock,
            signer=signer,
            notice=notice,
            checker=checker,
            witness=witness,
            audited=audited,
        )

    def _git(self, *args: str, data: bytes | None = None, check: bool = True) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "lockgate",
            "GIT_COMMITTER_NAME": "lockgate",
            "GIT_AUTHOR_EMAIL": "ledger@lockgate.invalid",
            "GIT_COMMITTER_EMAIL": "ledger@lockgate.invalid",
            "GIT_TERMINAL_PROMPT": "0",
        }
        done = subprocess.run(
            ["git", "-C", str(self.repo), *args],
            input=data,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise LedgerError(f"git {' '.join(args[:2])}: {done.stderr.decode().strip()}")
        return done.stdout.decode() if done.returncode == 0 else ""

    @contextlib.contextmanager
    def _local_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "ledger.lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def fetch(self) -> str | None:
        """Fetch the branch and bring the mirror up to it; the remote tip commit, if any."""
        spec = f"+refs/heads/{self.branch}:{TRACKING_REF}"
        done = subprocess.run(
            ["git", "-C", str(self.repo), "fetch", "-q", self.remote, spec],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            missing = b"couldn't find remote ref" in done.stderr.lower()
            if not missing:
                raise LedgerError(
                    f"git fetch {self.remote} {self.branch}: {done.stderr.decode().strip()}"
                )
            with contextlib.suppress(LedgerError):
                self._git("update-ref", "-d", TRACKING_REF)
            return None
        tip = self._git("rev-parse", TRACKING_REF).strip()
        data = self._git_blob(tip, LEDGER_FILE)
        head = self._git_blob(tip, HEAD_FILE)
        self._check_extends_parent(tip, data)
        self._mirror(data, head)
        return tip

    def _check_extends_parent(self, tip: str, data: bytes) -> None:
        """Each commit on the branch adds entries to its parent's: a commit that puts an older
        ledger back (a rollback pushed as a fast-forward) is refused on any machine, even one
        that has never seen the later entries."""
        parent = self._git("rev-parse", "--verify", "-q", f"{tip}^1", check=False).strip()
        if not parent:
            return
        before = self._git_blob(parent, LEDGER_FILE)
        if len(data) <= len(before) or not data.startswith(before):
            raise RolledBack(
                f"the {self.branch} branch on {self.remote}: commit {tip[:12]} does not extend "
                f"the ledger of its parent {parent[:12]} (entries removed or rewritten: an "
                "older ledger was pushed back); restore the branch and run "
                "`lockgate audit verify`"
            )

    def _git_blob(self, commit: str, name: str) -> bytes:
        done = subprocess.run(
            ["git", "-C", str(self.repo), "cat-file", "blob", f"{commit}:{name}"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise LedgerError(f"{self.branch}@{commit[:12]}: no {name} on the ledger branch")
        return done.stdout

    def _mirror(self, data: bytes, head: bytes) -> None:
        path = self.folder / LEDGER_FILE
        local = path.read_bytes() if path.exists() else b""
        local = local[: self.mirror.head().size]
        if not data.startswith(local):
            lost = local.count(b"\n") - data.count(b"\n")
            raise RolledBack(
                f"the {self.branch} branch on {self.remote} does not extend the entries seen "
                f"here ({'it lost ' + str(lost) + ' entries' if lost > 0 else 'it diverged'}): "
                "a force-push or rewrite; run `lockgate audit verify` and restore the branch"
            )
        if data != local:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
            write_atomic(self.folder / HEAD_FILE, head)

    def entries(self) -> list[Entry]:
        return self.mirror.entries()

    def append(self, draft: Draft) -> Entry:
        with self._local_lock():
            try:
                return retry(lambda _: self._append_once(draft), CONTENTION)
            except AttemptsExhausted:
                raise LedgerError(
                    f"could not push to {self.branch} after {ATTEMPTS} attempts: other "
                    "writers keep winning; try again"
                ) from None

    def _append_once(self, draft: Draft) -> Entry:
        entry = self._commit_and_push(draft, self.fetch())
        if entry is None:
            raise TryAgain("another writer appended first")
        return entry

    def _commit_and_push(self, draft: Draft, tip: str | None) -> Entry | None:
        if self.mirror.checker is not None and self.signer is None:
            raise LedgerError(
                f"the {self.branch} ledger is signed (policy.ledger.public_key) and nothing "
                "unsigned may enter it: pass --signing-key (or set LOCKGATE_SIGNING_KEY)"
            )
        head = self.mirror.head()
        path = self.folder / LEDGER_FILE
        data = path.read_bytes()[: head.size] if head.size else b""
        now = format_time(self.clock())
        entry = seal(draft, head.seq + 1, max(now, head.time), head.hash, self.signer)
        line = entry.line()
        new_head = Head(entry.seq, entry.hash, head.size + len(line), entry.time)
        if self.signer is not None:
            new_head = Head(
                **{**new_head.__dict__, "signature": self.signer(new_head.anchor_payload())}
            )
        head_bytes = json.dumps(new_head.to_json(), sort_keys=True).encode()
        blobs = {
            name: self._git("hash-object", "-w", "--stdin", data=content).strip()
            for name, content in ((LEDGER_FILE, data + line), (HEAD_FILE, head_bytes))
        }
        tree_text = "".join(f"100644 blob {sha}\t{name}\n" for name, sha in sorted(blobs.items()))
        tree = self._git("mktree", data=tree_text.encode()).strip()
        parents = ["-p", tip] if tip else []
        message = f"ledger entry {entry.seq}: {entry.action} {entry.environment or ''}".strip()
        commit = self._git("commit-tree", tree, *parents, "-m", message).strip()
        pushed = subprocess.run(
            [
                "git",
                "-C",
                str(self.repo),
                "push",
                "-q",
                self.remote,
                f"{commit}:refs/heads/{self.branch}",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if pushed.returncode != 0:
            err = pushed.stderr.decode().lower()
            if any(
                w in err
                for w in (
                    "non-fast-forward",
                    "fetch first",
                    "rejected",
                    "cannot lock ref",
                    "failed to update ref",
                )
            ):
                return None
            raise LedgerError(f"git push {self.remote} {self.branch}: {err.strip()}")
        self._git("update-ref", TRACKING_REF, commit)
        self._mirror(data + line, head_bytes)
        if self.mirror.witness is not None:
            self.mirror.witness.record(entry.seq, entry.hash)
        return entry
