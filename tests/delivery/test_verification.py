"""libsodium and OpenSSL give the same verdict on every signature: good ones, forged ones, ones
made with another key, malformed ones, and on whole tampered signed ledgers audited with each
(real PyNaCl and cryptography, real Ed25519 keys)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from lockgate.delivery.ledger.verification import KeyChecker, _libsodium_wrapped, best_backend

BACKENDS = ("libsodium", "openssl")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


def raw_key(public: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public.read_bytes())
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_libsodium_is_used_when_installed(keys: tuple[Path, Path]) -> None:
    pytest.importorskip("nacl", reason="PyNaCl (the delivery extra) is not installed")
    assert best_backend() == "libsodium"
    assert load_checker(keys[1]).backend == "libsodium"


def test_both_backends_give_the_same_verdicts(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pytest.importorskip("nacl", reason="PyNaCl (the delivery extra) is not installed")
    sign = load_signer(keys[0])
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    other = load_signer(tmp_path / "other.pem")
    payload = b'{"action":"approve","actor":"alice"}'
    good = sign(payload)
    raw = bytearray(base64.b64decode(good))
    raw[10] ^= 1
    cases = {
        "good": (payload, good, True),
        "another payload": (payload + b" ", good, False),
        "a flipped bit": (payload, base64.b64encode(bytes(raw)).decode(), False),
        "another key": (payload, other(payload), False),
        "63 bytes": (payload, base64.b64encode(base64.b64decode(good)[:63]).decode(), False),
        "65 bytes": (payload, base64.b64encode(base64.b64decode(good) + b"\0").decode(), False),
        # the first byte of the payload moved into a 63-byte signature: must not verify
        "shifted": (payload[1:], base64.b64encode(base64.b64decode(good)[:63]).decode(), False),
        "not base64": (payload, "!!!", False),
        "empty": (payload, "", False),
        "not ASCII": (payload, "é" * 88, False),
        "all zero": (payload, base64.b64encode(bytes(64)).decode(), False),
    }
    checkers = {name: KeyChecker(raw_key(keys[1]), name) for name in BACKENDS}
    # libsodium through PyNaCl's public wrapper, as lockgate called it before the raw binding
    checkers["wrapped"] = KeyChecker(raw_key(keys[1]), "libsodium")
    checkers["wrapped"]._verify = _libsodium_wrapped(raw_key(keys[1]))
    for case, (data, signature, expected) in cases.items():
        verdicts = {name: check(data, signature) for name, check in checkers.items()}
        assert verdicts == dict.fromkeys(checkers, expected), case


@pytest.mark.parametrize("edit", ["actor", "signature", "unsigned"])
def test_audits_with_either_backend_name_the_same_bad_entry(
    tmp_path: Path, keys: tuple[Path, Path], edit: str
) -> None:
    pytest.importorskip("nacl", reason="PyNaCl (the delivery extra) is not installed")
    folder = tmp_path / "ledger"
    ledger = FileLedger(folder, signer=load_signer(keys[0]))
    for n in range(1, 6):
        ledger.append(Draft("approve", "alice", "github", "production", f"sha256:{n:064x}"))
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    if edit == "actor":
        lines[2] = lines[2].replace(b'"actor":"alice"', b'"actor":"carol"')
    elif edit == "signature":
        start = lines[2].index(b'"signature":"') + 13
        flipped = b"A" if lines[2][start : start + 1] != b"A" else b"B"
        lines[2] = lines[2][:start] + flipped + lines[2][start + 1 :]
    else:
        start = lines[2].index(b'"signature":"')
        end = lines[2].index(b'",', start) + 2
        lines[2] = lines[2][:start] + lines[2][end:]
    lines[2] = rehashed(lines[2])  # so the signature check, not the line's hash, finds it
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    reports = {name: audit_ledger(folder, KeyChecker(raw_key(keys[1]), name)) for name in BACKENDS}
    assert reports["libsodium"] == reports["openssl"]
    assert reports["openssl"].first_bad_seq == 3
    assert reports["openssl"].problems[0].startswith("entry 3: ")
    problem = reports["openssl"].problems[0]
    assert "not signed" in problem or "does not verify" in problem


def rehashed(line: bytes) -> bytes:
    """``line`` with its trailing hash recomputed over its body (what a forger can always do)."""
    cut = line.rfind(b',"hash":"')
    digest = hashlib.sha256(line[:cut] + b"}").hexdigest()
    return line[:cut] + b',"hash":"' + digest.encode() + b'"}\n'
