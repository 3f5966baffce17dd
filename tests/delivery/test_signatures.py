"""Ledger signatures checked from the line bytes, on one core or several: a forged or altered
signature is refused, and the verdict is the one OpenSSL's own command line gives for the same
key, payload and signature (real Ed25519 signatures made by lockgate's signer)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import (
    Draft,
    Entry,
    chain_fields,
    cut_signed,
    read_line,
    signed_parts,
)
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signatures import (
    NOT_SIGNED,
    NOT_VERIFIED,
    first_bad_signature,
    line_problem,
)
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from tests.conftest import required_by_env

Keys = tuple[Path, Path]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


def signed_ledger(folder: Path, keys: Keys, count: int) -> list[bytes]:
    ledger = FileLedger(folder, signer=load_signer(keys[0]))
    for n in range(1, count + 1):
        ledger.append(
            Draft(
                "approve",
                "zoë" if n % 2 else "alice",  # a non-ASCII actor: canonical JSON keeps it raw
                "github",
                "production",
                f"sha256:{n:064x}",
                reason=f'entry {n} "quoted" \\ back',
                details={"expires": "2027-01-01T00:00:00.000000Z", "n": n, "ratio": 0.1 * n},
            )
        )
    return (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def rewrite(entry: Entry, **changes: object) -> bytes:
    """The line of ``entry`` with fields changed and its hash recomputed (as a forger would)."""
    import hashlib

    from lockgate.delivery.ledger.entry import canonical

    changed = Entry(**{**entry.__dict__, **changes})
    digest = hashlib.sha256(canonical(changed.body())).hexdigest()
    return Entry(**{**changed.__dict__, "hash": digest}).line()


def flip_bit(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_the_payload_cut_from_the_bytes_is_the_re_serialised_one(
    tmp_path: Path, keys: Keys
) -> None:
    for line in signed_ledger(tmp_path, keys, 4):
        entry = read_line(line)
        parts = signed_parts(line.rstrip(b"\n"))
        assert parts == (entry.signed_payload(), entry.signature)
        # the chain walk's own match says where the signature sits: the same cut, no second match
        span = chain_fields(line.rstrip(b"\n"))[4]
        assert span is not None and cut_signed(line.rstrip(b"\n"), span) == parts


def forgeries(lines: list[bytes], other_key: Path) -> dict[str, tuple[bytes, str]]:
    """Each way of tampering with entry 2's signature: (its new line, the verdict expected)."""
    first, second = read_line(lines[0]), read_line(lines[1])
    assert second.signature is not None and first.signature is not None
    other = load_signer(other_key)
    return {
        "bit flipped": (rewrite(second, signature=flip_bit(second.signature)), NOT_VERIFIED),
        "another key": (rewrite(second, signature=other(second.signed_payload())), NOT_VERIFIED),
        "moved from entry 1": (rewrite(second, signature=first.signature), NOT_VERIFIED),
        "content changed": (rewrite(second, actor="mallory"), NOT_VERIFIED),
        "truncated": (rewrite(second, signature=second.signature[:20]), NOT_VERIFIED),
        "removed": (rewrite(second, signature=None), NOT_SIGNED),
    }


def test_every_forgery_is_refused_and_named(tmp_path: Path, keys: Keys) -> None:
    lines = signed_ledger(tmp_path / "ledger", keys, 3)
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    check = load_checker(keys[1])
    assert [line_problem(line, check) for line in lines] == [None, None, None]
    for what, (forged, verdict) in forgeries(lines, tmp_path / "other.pem").items():
        assert line_problem(forged, check) == verdict, what
        bare = forged.rstrip(b"\n")
        assert line_problem(bare, check, chain_fields(bare)[4]) == verdict, what
        (tmp_path / "ledger" / "ledger.jsonl").write_bytes(lines[0] + forged + lines[2])
        report = audit_ledger(tmp_path / "ledger", check)
        # entry 3 no longer names entry 2's hash either; the signature is the first problem
        assert report.first_bad_seq == 2, what
        assert report.problems == (f"entry 2: {verdict}",), what
        assert report.entries == 1, what


@pytest.mark.skipif(
    shutil.which("openssl") is None and not required_by_env(),
    reason="the openssl command line is not installed",
)
def test_the_verdicts_are_openssls(tmp_path: Path, keys: Keys) -> None:
    """The same payload and signature bytes through ``openssl pkeyutl -verify``."""
    lines = signed_ledger(tmp_path / "ledger", keys, 3)
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    check = load_checker(keys[1])
    cases = {"genuine": (lines[1], None), **forgeries(lines, tmp_path / "other.pem")}
    cases.pop("removed")  # nothing for openssl to verify
    for what, (line, verdict) in cases.items():
        entry = read_line(line)
        assert entry.signature is not None
        (tmp_path / "payload").write_bytes(entry.signed_payload())
        (tmp_path / "sig").write_bytes(base64.b64decode(entry.signature))
        openssl = subprocess.run(
            [
                *("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keys[1]), "-rawin"),
                *("-in", str(tmp_path / "payload"), "-sigfile", str(tmp_path / "sig")),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (openssl.returncode == 0) == (verdict is None), (what, openssl.stdout)
        assert line_problem(line, check) == verdict, what


def test_a_line_the_bytes_do_not_match_falls_back_to_the_full_parse(
    tmp_path: Path, keys: Keys
) -> None:
    """An entry written with escaped characters (valid JSON, not lockgate's canonical bytes)
    still verifies as it did when every entry was parsed and re-serialised."""
    line = signed_ledger(tmp_path, keys, 1)[0]
    body = line[: line.rfind(b',"hash":"')] + b"}"
    escaped = body.replace("zoë".encode(), b"zo\\u00eb")
    assert escaped != body and json.loads(escaped) == json.loads(body)
    import hashlib

    digest = hashlib.sha256(escaped).hexdigest().encode()
    relined = escaped[:-1] + b',"hash":"' + digest + b'"}\n'
    check = load_checker(keys[1])
    parts = signed_parts(relined)
    assert parts is not None and not check(*parts)  # the fast path alone would refuse it
    assert line_problem(relined, check) is None


@pytest.mark.parametrize("way", ["one core", "threads", "processes"])
def test_the_first_bad_signature_in_ledger_order_wins(tmp_path: Path, keys: Keys, way: str) -> None:
    """Threads (libsodium releases the lock) and forked workers (a plain function does not say
    it does) each report the first failure of their share; the earliest is kept."""
    lines = signed_ledger(tmp_path, keys, 12)
    for n in (9, 4):
        entry = read_line(lines[n])
        assert entry.signature is not None
        lines[n] = rewrite(entry, signature=flip_bit(entry.signature))
    key = load_checker(keys[1])
    check: Callable[[bytes, str], bool] = key
    if way == "processes":
        check = lambda payload, signature: key(payload, signature)  # noqa: E731
    workers = 1 if way == "one core" else 2
    found = first_bad_signature(lines, check, workers, parallel_from=1)
    assert found == (4, NOT_VERIFIED)
    bare = [line.rstrip(b"\n") for line in lines]
    spans = [chain_fields(line)[4] for line in bare]
    assert first_bad_signature(bare, check, workers, spans=spans, parallel_from=1) == found
    assert first_bad_signature(lines[:4], check, workers, parallel_from=1) is None


def test_a_process_running_other_threads_checks_on_one_core(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forking while another thread may hold a lock can hang the child: with a second thread
    alive (as in `lockgate ui`), a checker that holds the interpreter lock (so would be given
    forked workers) runs in this process and still finds the bad line."""
    import threading

    from lockgate.delivery.ledger import signatures

    def no_fork(*_args: object) -> None:
        raise AssertionError("forked while another thread ran")

    monkeypatch.setattr(signatures, "_first_bad_forked", no_fork)
    lines = signed_ledger(tmp_path, keys, 6)
    entry = read_line(lines[3])
    assert entry.signature is not None
    lines[3] = rewrite(entry, signature=flip_bit(entry.signature))
    key = load_checker(keys[1])
    check: Callable[[bytes, str], bool] = lambda payload, signature: key(payload, signature)  # noqa: E731
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert first_bad_signature(lines, check, 2, parallel_from=1) == (3, NOT_VERIFIED)
    finally:
        stop.set()
        other.join()


def test_the_release_pages_repeated_audit_keeps_naming_the_bad_signature(
    tmp_path: Path, keys: Keys
) -> None:
    """The held prefix ends before the bad line, so the next call finds the same problem."""
    from lockgate.delivery.ledger.audit import IncrementalAudit

    lines = signed_ledger(tmp_path, keys, 5)
    entry = read_line(lines[2])
    assert entry.signature is not None
    lines[2] = rewrite(entry, signature=flip_bit(entry.signature))
    (tmp_path / "ledger.jsonl").write_bytes(b"".join(lines))
    audit = IncrementalAudit(tmp_path, load_checker(keys[1]))
    first, again = audit(), audit()
    assert first.problems == again.problems == (f"entry 3: {NOT_VERIFIED}",)
    assert audit.walked_from == len(lines[0]) + len(lines[1])
