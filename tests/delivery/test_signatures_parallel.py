"""A signed audit whose signature checks are shared between workers (threads for libsodium, forked
processes for a checker that holds the interpreter lock) reports exactly what a one-core audit
reports: the first bad entry in ledger order, with the same message. Real Ed25519 keys and
signatures (lockgate's signer, libsodium's verification); the threshold and the share size are
lowered so that a small ledger crosses several share boundaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.ledger import build
from lockgate.delivery.ledger import signatures
from lockgate.delivery.ledger.audit import AuditReport, audit_ledger
from lockgate.delivery.ledger.entry import read_line
from lockgate.delivery.ledger.signatures import NOT_VERIFIED, first_bad_signature
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from lockgate.delivery.ledger.verification import KeyChecker
from tests.delivery.test_signatures import flip_bit, rewrite

ENTRIES = 23
Found = tuple[int, str] | None
SHARE = 5  # lines per thread share here; 2 processes take shares of 3 (4 shares per worker)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    build(tmp_path / "ledger", ENTRIES, load_signer(tmp_path / "k.pem"))
    return tmp_path / "ledger"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which ways of sharing the checks ran; every audit here shares them, however few lines."""
    monkeypatch.setattr(signatures, "PARALLEL_FROM", 1)
    monkeypatch.setattr(signatures, "THREAD_SHARE", SHARE)
    ways: list[str] = []
    for name in ("_first_bad_threaded", "_first_bad_forked"):
        original = getattr(signatures, name)

        def spy(
            *args: object, original: Callable[..., Found] = original, name: str = name
        ) -> Found:
            ways.append(name)
            return original(*args)

        monkeypatch.setattr(signatures, name, spy)
    return ways


def checker(folder: Path) -> KeyChecker:
    return load_checker(folder.parent / "k.pub")


def plain(check: KeyChecker) -> Callable[[bytes, str], bool]:
    """The same verdicts from a plain function: it does not say it releases the lock."""
    return lambda payload, signature: check(payload, signature)


def forge(folder: Path, *indices: int) -> None:
    """Flip a bit of the signatures of the lines at ``indices``, re-hashing them as a forger
    would (so the chain walk's hash checks pass and only the signature tells)."""
    rows = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    for index in indices:
        entry = read_line(rows[index])
        assert entry.signature is not None
        rows[index] = rewrite(entry, signature=flip_bit(entry.signature))
    (folder / "ledger.jsonl").write_bytes(b"".join(rows))


def both(folder: Path, check: Callable[[bytes, str], bool]) -> tuple[AuditReport, AuditReport]:
    """The audit on one core, and on two workers."""
    return audit_ledger(folder, check, workers=1), audit_ledger(folder, check, workers=2)


BOUNDARIES = [SHARE - 1, SHARE, 2 * SHARE - 1, 2 * SHARE, ENTRIES // 2, ENTRIES - 1, 0]


@pytest.mark.parametrize("index", BOUNDARIES)
def test_a_bad_signature_either_side_of_a_share_boundary_is_named_as_on_one_core(
    ledger: Path, ran: list[str], index: int
) -> None:
    forge(ledger, index)
    one, shared = both(ledger, checker(ledger))
    assert shared == one
    assert shared.problems == (f"entry {index + 1}: {NOT_VERIFIED}",)
    assert (shared.first_bad_seq, shared.entries) == (index + 1, index)
    assert ran == ["_first_bad_threaded"]


@pytest.mark.skipif(sys.platform != "linux", reason="worker processes are forked on Linux only")
@pytest.mark.parametrize("index", [2, 3, 5, 6, ENTRIES // 2, ENTRIES - 1])
def test_forked_workers_name_the_same_entry_for_a_checker_holding_the_lock(
    ledger: Path, ran: list[str], index: int
) -> None:
    forge(ledger, index)
    one, shared = both(ledger, plain(checker(ledger)))
    assert shared == one
    assert shared.problems == (f"entry {index + 1}: {NOT_VERIFIED}",)
    assert ran == ["_first_bad_forked"]


def test_of_two_bad_signatures_the_earlier_wins_even_when_found_last(
    ledger: Path, ran: list[str]
) -> None:
    """The first share is held up until a later share has reported its failure: the answer is
    still the first share's, the earliest in ledger order."""
    forge(ledger, 2, 3 * SHARE + 1)
    lines = (ledger / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    check = checker(ledger)
    later_found = threading.Event()
    held_up: list[bytes] = []

    class HeldUp(KeyChecker):
        def __call__(self, payload: bytes, signature: str) -> bool:
            verdict = super().__call__(payload, signature)
            if payload.count(b'"seq":3,'):
                held_up.append(payload)
                assert later_found.wait(timeout=30), "the later share never reported"
            elif not verdict:
                later_found.set()
            return verdict

    held = HeldUp(check.public_key)
    assert first_bad_signature(lines, held, 2) == (2, NOT_VERIFIED)
    assert later_found.is_set() and held_up
    assert ran == ["_first_bad_threaded"]
    one, shared = both(ledger, check)
    assert shared == one and shared.problems == (f"entry 3: {NOT_VERIFIED}",)


def test_a_ledger_signed_with_another_key_fails_at_entry_1(
    ledger: Path, tmp_path: Path, ran: list[str]
) -> None:
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    one, shared = both(ledger, load_checker(tmp_path / "other.pub"))
    assert shared == one
    assert shared.problems == (f"entry 1: {NOT_VERIFIED}",)
    assert "_first_bad_threaded" in ran


@pytest.mark.parametrize("forged", [None, 4, 14], ids=["no-forgery", "forged-before", "after"])
def test_reordered_entries_are_named_as_on_one_core(
    ledger: Path, ran: list[str], forged: int | None
) -> None:
    """Entries 11 and 12 swapped: the walk stops there; a bad signature before the swap is the
    first problem, one after it is never reached, as on one core."""
    if forged is not None:
        forge(ledger, forged)
    rows = (ledger / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    rows[10], rows[11] = rows[11], rows[10]
    (ledger / "ledger.jsonl").write_bytes(b"".join(rows))
    one, shared = both(ledger, checker(ledger))
    assert shared == one
    if forged == 4:
        assert shared.problems == (f"entry 5: {NOT_VERIFIED}",)
    else:
        assert shared.problems == (
            "entry 11: out of order (reordered): found entry 12 where entry 11 belongs, "
            "and entry 11 comes later",
        )
    assert "_first_bad_threaded" in ran


def test_an_intact_ledger_passes_on_threads(ledger: Path, ran: list[str]) -> None:
    one, shared = both(ledger, checker(ledger))
    assert shared == one and shared.ok and shared.entries == ENTRIES
    assert ran == ["_first_bad_threaded"]


@pytest.mark.parametrize(
    "index",
    [signatures.THREAD_SHARE - 1, signatures.THREAD_SHARE, (signatures.PARALLEL_FROM + 10) // 2],
    ids=["end-of-share", "start-of-share", "middle"],
)
def test_the_command_names_a_forged_entry_in_a_ledger_big_enough_for_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    """`lockgate audit verify --full --public-key` at its own threshold (no setting lowered):
    the forged entry is named, exit 1, no traceback."""
    count = signatures.PARALLEL_FROM + 10
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    build(tmp_path / "ledger", count, load_signer(tmp_path / "k.pem"))
    forge(tmp_path / "ledger", index)
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path / "witness"))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "lockgate", "audit", "verify", "--full"),
            *("--ledger", str(tmp_path / "ledger"), "--public-key", str(tmp_path / "k.pub")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert done.stderr.splitlines()[1:] == [f"  entry {index + 1}: {NOT_VERIFIED}"], done.stderr
    assert f"first bad entry: {index + 1}" in done.stderr


HOST_WITH_A_SIGTERM_HANDLER = """
import multiprocessing, os, signal, sys, time
from pathlib import Path
from lockgate.delivery.ledger import signatures
from lockgate.delivery.ledger.signing import load_checker

folder = Path(sys.argv[1])
lines = (folder / "ledger" / "ledger.jsonl").read_bytes().splitlines(keepends=True)
key = load_checker(folder / "k.pub")
parent = os.getpid()


def stop_later(*_):  # a program's own handler: it notes the request and carries on
    if os.getpid() != parent:
        (folder / f"handler-ran-in-worker-{os.getpid()}").touch()


def slow_to_start(reset=signatures._quiet_worker):  # a worker the scheduler runs late
    time.sleep(0.3)
    reset()


signal.signal(signal.SIGTERM, stop_later)
signatures._quiet_worker = slow_to_start
for _ in range(5):
    assert signatures.first_bad_signature(lines, lambda p, s: key(p, s), 2, parallel_from=1) is None
print(len(multiprocessing.active_children()))
"""


def test_forked_workers_never_run_the_programs_sigterm_handler_and_never_hang(
    ledger: Path,
) -> None:
    """A process that handles SIGTERM without exiting (lockgate's commands stop like Ctrl-C)
    forks the workers: a worker the pool signalled before it had reset the handler ran the
    parent's, lived on blocked on the pool's queue lock, and the audit waited for it forever.
    Workers now end without a signal and start with SIGTERM blocked until they reset it. Each
    worker here is slow to start, as under load, which is when the pool used to signal it."""
    host = subprocess.Popen(
        [sys.executable, "-c", HOST_WITH_A_SIGTERM_HANDLER, str(ledger.parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers too are stopped below if it hangs
    )
    try:
        out, err = host.communicate(timeout=120)  # 5 audits take seconds; a hung pool, forever
    except subprocess.TimeoutExpired:
        os.killpg(host.pid, signal.SIGKILL)
        host.communicate()
        pytest.fail("5 forked audits did not finish: a worker hung")
    assert host.returncode == 0, err
    assert out.split() == ["0"]  # no worker left behind
    assert list(ledger.parent.glob("handler-ran-in-worker-*")) == []
