"""Envelope encryption through AWS KMS, against moto's server (a real HTTP server answering the
KMS API, IAM authentication on): a store's data key is made by GenerateDataKey and kept only
wrapped beside the data, unwrapped once by Decrypt; every way the KMS can say no is one clear
message and leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer, SealError
from tests.engine.kms_servers import MotoKms, free_port, start_moto

pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoKms]:
    proc, kms = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield kms
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _sealer(uri: str, store: Path, access: str, secret: str, **extra: str) -> Sealer:
    values = {"id": access, "secret": secret, "region": "us-east-1", **extra}
    creds = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "region"}
    return Sealer.resolve(uri, values.__getitem__, Path, store=store, credentials=creds)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_fresh_data_key_is_kept_wrapped_and_unwrapped_once(moto: MotoKms, tmp_path: Path) -> None:
    uri = f"awskms://{moto.endpoint}/alias/lockgate-data"
    store = tmp_path / "store"
    first = _sealer(uri, store, moto.access_key, moto.secret_key)
    (record_path,) = _files(store)
    assert record_path == store / ".lockgate-keys" / f"{first.key_id}.json"
    record = json.loads(record_path.read_text())
    assert record["kms"] == uri and record["kms_key"] == moto.key_arn
    assert record["key_id"] == first.key_id
    raw = record_path.read_bytes()
    assert first.key not in raw and first.key.hex().encode() not in raw
    assert moto.secret_key.encode() not in raw
    sealed = first.seal(b"rows of data", "part-0")
    again = _sealer(uri, store, moto.access_key, moto.secret_key)  # a later run: Decrypt
    assert again.key_id == first.key_id and again.key == first.key
    assert again.open(sealed, "part-0", str(store / "part-0")) == b"rows of data"
    assert len(_files(store)) == 1


def test_a_key_arn_works_as_the_alias_does(moto: MotoKms, tmp_path: Path) -> None:
    sealer = _sealer(
        f"awskms://{moto.endpoint}/{moto.key_arn}", tmp_path, moto.access_key, moto.secret_key
    )
    assert sealer.open(sealer.seal(b"x", "n"), "n", str(tmp_path / "f")) == b"x"


def test_files_sealed_under_another_store_open_through_its_wrapped_key(
    moto: MotoKms, tmp_path: Path
) -> None:
    uri = f"awskms://{moto.endpoint}/alias/lockgate-data"
    exported = _sealer(uri, tmp_path / "ci-job-1", moto.access_key, moto.secret_key)
    (tmp_path / "ci-job-1" / "train").mkdir()
    sealed = tmp_path / "ci-job-1" / "train" / "model.bin"
    sealed.write_bytes(exported.seal(b"weights", "model.bin"))
    here = _sealer(uri, tmp_path / "ci-job-2", moto.access_key, moto.secret_key)
    assert here.key_id != exported.key_id  # one data key per store
    assert here.open(sealed.read_bytes(), "model.bin", str(sealed)) == b"weights"


def test_a_data_key_wrapped_by_another_kms_key_is_named(moto: MotoKms, tmp_path: Path) -> None:
    data = _sealer(
        f"awskms://{moto.endpoint}/alias/lockgate-data", tmp_path, moto.access_key, moto.secret_key
    )
    sealed = tmp_path / "part.sealed"
    sealed.write_bytes(data.seal(b"rows", "part"))
    other_uri = f"awskms://{moto.endpoint}/alias/another"
    other = _sealer(other_uri, tmp_path, moto.access_key, moto.secret_key)
    with pytest.raises(
        SealError,
        match=r"this data key is wrapped by awskms://.*alias/lockgate-data, but encryption.key is awskms://.*alias/another; set encryption.key to the KMS key that wrapped it",
    ):
        other.open(sealed.read_bytes(), "part", str(sealed))
    # the record edited to claim the other key: the KMS itself refuses to unwrap it
    for path in (tmp_path / ".lockgate-keys").glob("*.json"):
        record = json.loads(path.read_text())
        if record["key_id"] == data.key_id:
            path.write_text(json.dumps({**record, "kms": other_uri}))
    fresh = _sealer(other_uri, tmp_path / "elsewhere", moto.access_key, moto.secret_key)
    # (AWS answers IncorrectKeyException; moto answers AccessDeniedException)
    with pytest.raises(
        SealError, match=r"not wrapped by alias/another|denied Decrypt on alias/another"
    ):
        fresh.open(sealed.read_bytes(), "part", str(sealed))


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (
            "outsider",
            r"AWS KMS denied GenerateDataKey on alias/lockgate-data \(.+\): check the credentials in encryption.credentials and the key policy",
        ),
        (
            "stranger",
            r"AWS KMS denied GenerateDataKey on alias/lockgate-data \(.+\): check the credentials",
        ),
    ],
)
def test_access_denied_is_one_message_and_nothing_is_written(
    moto: MotoKms, tmp_path: Path, who: str, message: str
) -> None:
    access, secret = (
        (moto.denied_access_key, moto.denied_secret_key)
        if who == "outsider"
        else ("AKIAUNKNOWN", "nope")
    )
    with pytest.raises(SealError, match=message) as err:
        _sealer(f"awskms://{moto.endpoint}/alias/lockgate-data", tmp_path / "s", access, secret)
    assert secret not in str(err.value)
    assert _files(tmp_path / "s") == []


def test_an_unknown_key_is_one_message(moto: MotoKms, tmp_path: Path) -> None:
    with pytest.raises(
        SealError, match=r"AWS KMS key alias/absent cannot be used \(NotFoundException\)"
    ):
        _sealer(
            f"awskms://{moto.endpoint}/alias/absent",
            tmp_path / "s",
            moto.access_key,
            moto.secret_key,
        )
    assert _files(tmp_path / "s") == []


def test_an_unreachable_kms_is_one_message(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(
        SealError, match=rf"cannot reach AWS KMS at http://127.0.0.1:{port}: check the endpoint"
    ):
        _sealer(f"awskms://127.0.0.1:{port}/alias/x", tmp_path / "s", "AKIA", "s")
    assert _files(tmp_path / "s") == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("awskms://127.0.0.1:1", r"expected awskms://\[ENDPOINT\]/KEY"),
        ("awskms:///alias/x", r"no AWS region: give the key as an ARN, or add AWS_REGION"),
    ],
)
def test_malformed_uris_and_missing_regions(tmp_path: Path, uri: str, message: str) -> None:
    creds = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "id"}
    with pytest.raises(SealError, match=message):
        Sealer.resolve(uri, lambda n: "v", Path, store=tmp_path, credentials=creds)
