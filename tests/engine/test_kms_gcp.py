"""Envelope encryption through Google Cloud KMS. No cloud can be reached where these tests run:
they talk to a loopback server that answers the token endpoint and ``cryptoKeys.encrypt`` /
``decrypt`` as Google documents them, verifies the service account's signed JWT assertion
against its public key, checks the bearer token on every KMS call, and really encrypts
(tests/engine/gcp_kms_server.py); every request is recorded, so what lockgate sends is checked."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.engine.sealing import Sealer, SealError
from tests.engine.gcp_kms_server import GcpKmsServer
from tests.engine.kms_cloud_servers import rsa_key
from tests.engine.kms_servers import as_a_new_process, free_port


@pytest.fixture
def gcp() -> Iterator[GcpKmsServer]:
    with GcpKmsServer() as server:
        yield server  # type: ignore[misc]


def _sealer(uri: str, store: Path, account: dict[str, str], endpoint: str) -> Sealer:
    values = {"sa": json.dumps(account, indent=2), "endpoint": endpoint}
    creds = {"GOOGLE_SERVICE_ACCOUNT_KEY": "sa", "GOOGLE_KMS_ENDPOINT": "endpoint"}
    return Sealer.resolve(uri, values.__getitem__, Path, store=store, credentials=creds)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_data_key_wrapped_by_cloud_kms_is_kept_wrapped_and_unwrapped_once(
    gcp: GcpKmsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = gcp.account("sealer")
    uri = f"gcpkms://{gcp.key('data')}"
    first = _sealer(uri, tmp_path, account, gcp.url)
    (record_path,) = _files(tmp_path)
    record = json.loads(record_path.read_text())
    assert record["kms"] == uri and record["kms_key"] == f"{gcp.key('data')}/cryptoKeyVersions/1"
    raw = record_path.read_bytes()
    assert first.key.hex().encode() not in raw
    sealed = first.seal(b"rows", "part")
    as_a_new_process(monkeypatch)  # a later run
    again = _sealer(uri, tmp_path, account, gcp.url)
    assert again.key == first.key
    assert again.open(sealed, "part", str(tmp_path / "part")) == b"rows"

    paths = [r["path"] for r in gcp.requests]
    key = gcp.key("data")
    assert paths == ["/token", f"/v1/{key}:encrypt", "/token", f"/v1/{key}:decrypt"]
    token_calls, kms_calls = gcp.requests[0::2], gcp.requests[1::2]
    for call in token_calls:  # a jwt-bearer grant; the private key itself never travels
        form = dict(urllib.parse.parse_qsl(call["body"].decode()))
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert set(form) == {"grant_type", "assertion"}
    issued = list(gcp.tokens)
    assert len(issued) == 2
    for call, token in zip(kms_calls, issued, strict=True):  # each process's own token
        assert call["headers"]["Authorization"] == f"Bearer {token}"
        assert token.encode() not in call["body"]
    secret_line = account["private_key"].splitlines()[5].encode()
    for call in gcp.requests:
        assert secret_line not in call["body"]
    assert json.loads(kms_calls[1]["body"]) == {"ciphertext": record["wrapped"]}
    for token in issued:
        assert token.encode() not in raw and secret_line not in raw


def test_a_key_version_in_the_uri_wraps_with_that_version_and_unwraps_through_the_key(
    gcp: GcpKmsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcp.keys[gcp.key("data")].append(b"\x07" * 32)  # version 2 is primary now
    account = gcp.account("sealer")
    uri = f"gcpkms://{gcp.key('data')}/cryptoKeyVersions/1"
    first = _sealer(uri, tmp_path, account, gcp.url)
    (record_path,) = _files(tmp_path)
    assert json.loads(record_path.read_text())["kms_key"].endswith("/cryptoKeyVersions/1")
    as_a_new_process(monkeypatch)  # a later run
    assert _sealer(uri, tmp_path, account, gcp.url).key == first.key
    assert [r["path"] for r in gcp.requests][1::2] == [
        f"/v1/{gcp.key('data')}/cryptoKeyVersions/1:encrypt",
        f"/v1/{gcp.key('data')}:decrypt",
    ]


def test_a_key_the_token_endpoint_does_not_trust_is_bad_credentials(
    gcp: GcpKmsServer, tmp_path: Path
) -> None:
    account = gcp.account("sealer")
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = {**account, "private_key": pem.decode()}  # a key of no account the server knows
    with pytest.raises(SealError) as err:
        _sealer(f"gcpkms://{gcp.key('data')}", tmp_path / "s", forged, gcp.url)
    assert str(err.value).startswith(
        f"encryption.key (gcpkms://{gcp.key('data')}): Google's token endpoint refused the "
        f"service account {account['client_email']} (400 invalid_grant: Invalid JWT Signature.): "
        "check GOOGLE_SERVICE_ACCOUNT_KEY in encryption.credentials"
    )
    assert forged["private_key"].splitlines()[5] not in str(err.value)
    assert _files(tmp_path / "s") == []
    assert [r["path"] for r in gcp.requests] == ["/token"]  # never reached the KMS


def test_an_account_without_the_role_is_permission_denied(
    gcp: GcpKmsServer, tmp_path: Path
) -> None:
    outsider = gcp.account("outsider", allowed=False)
    with pytest.raises(
        SealError,
        match=r"Cloud KMS denied encrypt on .*/cryptoKeys/data \(403 "
        r"PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToEncrypt'"
        r" denied .*\): grant the service account "
        r"roles/cloudkms.cryptoKeyEncrypterDecrypter",
    ):
        _sealer(f"gcpkms://{gcp.key('data')}", tmp_path / "s", outsider, gcp.url)
    assert _files(tmp_path / "s") == []


def test_an_unknown_key_is_named(gcp: GcpKmsServer, tmp_path: Path) -> None:
    with pytest.raises(
        SealError,
        match=r"Cloud KMS has no key .*/cryptoKeys/absent \(404 "
        r"NOT_FOUND: .* not found.\): check the project, location, key ring",
    ):
        _sealer(f"gcpkms://{gcp.key('absent')}", tmp_path / "s", gcp.account("a"), gcp.url)
    assert _files(tmp_path / "s") == []


def test_unreachable_kms_or_token_endpoint_is_one_message(
    gcp: GcpKmsServer, tmp_path: Path
) -> None:
    account, port = gcp.account("sealer"), free_port()
    uri = f"gcpkms://{gcp.key('data')}"
    with pytest.raises(
        SealError,
        match=rf"cannot reach Cloud KMS at http://127.0.0.1:{port} "
        r"\(.*\): check GOOGLE_KMS_ENDPOINT and the network; nothing was sealed",
    ):
        _sealer(uri, tmp_path / "s", account, f"http://127.0.0.1:{port}")
    moved = {**account, "token_uri": f"http://127.0.0.1:{port}/token"}
    with pytest.raises(SealError, match=r"cannot reach Google's token endpoint .*nothing was"):
        _sealer(uri, tmp_path / "s", moved, gcp.url)
    assert _files(tmp_path / "s") == []


def test_plain_http_to_a_remote_endpoint_is_refused(gcp: GcpKmsServer, tmp_path: Path) -> None:
    with pytest.raises(SealError, match=r"GOOGLE_KMS_ENDPOINT: 'http://kms.example.com' must be"):
        _sealer(f"gcpkms://{gcp.key('data')}", tmp_path, gcp.account("a"), "http://kms.example.com")
    assert gcp.requests == []


def test_a_data_key_wrapped_by_another_cloud_kms_key(gcp: GcpKmsServer, tmp_path: Path) -> None:
    account = gcp.account("sealer")
    data = _sealer(f"gcpkms://{gcp.key('data')}", tmp_path, account, gcp.url)
    sealed = tmp_path / "part.sealed"
    sealed.write_bytes(data.seal(b"rows", "part"))
    other = _sealer(f"gcpkms://{gcp.key('other')}", tmp_path / "b", account, gcp.url)
    with pytest.raises(
        SealError,
        match=r"this data key is wrapped by gcpkms://.*/cryptoKeys/"
        r"data, but encryption.key is gcpkms://.*/cryptoKeys/other",
    ):
        other.open(sealed.read_bytes(), "part", str(sealed))
    # a record edited to name the other key: Cloud KMS fails to decrypt it with that key
    (path,) = (tmp_path / ".lockgate-keys").glob("*.json")
    record = json.loads(path.read_text())
    version = f"{gcp.key('other')}/cryptoKeyVersions/1"
    path.write_text(
        json.dumps({**record, "kms": f"gcpkms://{gcp.key('other')}", "kms_key": version})
    )
    fresh = _sealer(f"gcpkms://{gcp.key('other')}", tmp_path / "c", account, gcp.url)
    with pytest.raises(
        SealError,
        match=r"Cloud KMS key .*/cryptoKeys/other cannot unwrap the "
        r"data key \(400 INVALID_ARGUMENT: Decryption failed: the ciphertext is "
        r"invalid.\): it was wrapped by another key or altered",
    ):
        fresh.open(sealed.read_bytes(), "part", str(sealed))


def test_a_secret_that_is_not_a_service_account_key(gcp: GcpKmsServer, tmp_path: Path) -> None:
    values = {"sa": "not json at all, but secret-ish", "endpoint": gcp.url}
    creds = {"GOOGLE_SERVICE_ACCOUNT_KEY": "sa", "GOOGLE_KMS_ENDPOINT": "endpoint"}
    with pytest.raises(SealError) as err:
        Sealer.resolve(
            f"gcpkms://{gcp.key('data')}",
            values.__getitem__,
            Path,
            store=tmp_path,
            credentials=creds,
        )
    assert "GOOGLE_SERVICE_ACCOUNT_KEY: the secret is not a service account's JSON key" in str(
        err.value
    )
    assert "secret-ish" not in str(err.value)


def test_a_redirect_is_not_followed_with_the_token(gcp: GcpKmsServer, tmp_path: Path) -> None:
    """A KMS endpoint answering 302 elsewhere: lockgate refuses it rather than send the bearer
    token to wherever it points (urllib would follow it as a GET, Authorization included)."""
    with GcpKmsServer() as elsewhere:
        original = gcp.answer

        def moved(path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
            if path == "/token":
                return original(path, headers, body)
            return 302, {}

        gcp.answer = moved  # type: ignore[method-assign]
        gcp.location = f"{elsewhere.url}/collect"
        with pytest.raises(
            SealError, match=r"Cloud KMS encrypt on .*/cryptoKeys/data failed \(302"
        ):
            _sealer(f"gcpkms://{gcp.key('data')}", tmp_path / "s", gcp.account("a"), gcp.url)
        assert elsewhere.requests == []
    assert _files(tmp_path / "s") == []
