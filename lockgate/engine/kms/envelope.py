"""Wrapped data keys beside the sealed data, unwrapped once per process.

A store (the project's ``.lockgate/``, an export folder, a stage's state folder) keeps its data
keys wrapped in ``.lockgate-keys/KEY_ID.json``: the KMS URI, the KMS key that wrapped it, the
wrapped key, and the key id the sealed files name in their header. Never the plaintext key.

The first run on a store asks the KMS for a fresh data key (AWS ``GenerateDataKey``, Vault
``datakey/plaintext``; Cloud KMS and Key Vault only wrap, so lockgate draws the key from
``os.urandom`` and has it wrapped by ``encrypt`` / ``wrapkey``) and writes it wrapped there;
later runs unwrap it once and keep the plaintext in memory only. A sealed file whose header
names another key id (exports from another machine, an older data key) is opened with the
wrapped key found in a ``.lockgate-keys`` folder beside it or above it, unwrapped once too.

A process keeps one :class:`KeyRing` per KMS URI and credentials, whatever the number of stores
it seals: one client (so one access token while it lasts) and each data key unwrapped once,
however many stores, stages' readers or checkpoint folders ask for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from lockgate.engine.kms import DataKey, KmsClient
from lockgate.engine.sealing import Sealer, SealError

KEYS = ".lockgate-keys"
FORMAT = "lockgate-wrapped-key/1"


def kms_client(
    uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
) -> KmsClient:
    """The client of the KMS key ``uri``; ``ca_file``: the CA bundle its TLS is checked against
    (``encryption.ca_file``), else the system's trust store."""
    if uri.startswith("awskms://"):
        from lockgate.engine.kms.aws import AwsKms

        return AwsKms(uri, credentials, where, ca_file)
    if uri.startswith("gcpkms://"):
        from lockgate.engine.kms.gcp import GcpKms

        return GcpKms(uri, credentials, where, ca_file)
    if uri.startswith("azurekms://"):
        from lockgate.engine.kms.azure import AzureKeyVault

        return AzureKeyVault(uri, credentials, where, ca_file)
    from lockgate.engine.kms.vault import VaultTransit

    return VaultTransit(uri, credentials, where, ca_file)


class KeyRing:
    """The data keys one KMS key wraps, as far as this process has met them."""

    def __init__(self, client: KmsClient, where: str) -> None:
        self.client, self.where = client, where
        self._plain: dict[str, bytes] = {}  # key id -> data key, memory only
        self._records: dict[str, dict[str, str]] = {}
        self._lock = threading.RLock()

    def sealer_for(self, store: Path) -> Sealer:
        """The store's current data key (unwrapped once), or a fresh one written wrapped."""
        for record in _records(store / KEYS):
            if record.get("kms") == self.client.uri:
                key = self._unwrap(record, store / KEYS / f"{record['key_id']}.json")
                return Sealer(key, record["key_id"], ring=self)
        fresh: DataKey = self.client.generate()
        sealer = Sealer.from_key(fresh.plaintext)
        record = {
            "format": FORMAT,
            "key_id": sealer.key_id,
            "kms": self.client.uri,
            "kms_key": fresh.kms_key,
            "wrapped": fresh.wrapped,
        }
        with self._lock:
            self._plain[sealer.key_id], self._records[sealer.key_id] = fresh.plaintext, record
        self.keep(sealer.key_id, store)
        return Sealer(sealer.key, sealer.key_id, ring=self)

    def keep(self, key_id: str, store: Path) -> None:
        """Write the wrapped data key ``key_id`` into ``store`` unless it is there already."""
        record = self._records.get(key_id)
        target = store / KEYS / f"{key_id}.json"
        if record is None or target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, target)

    def find(self, key_id: str, near: Path) -> bytes | None:
        """The data key ``key_id``, unwrapped from a ``.lockgate-keys`` beside ``near`` or above."""
        with self._lock:
            if key_id in self._plain:
                return self._plain[key_id]
        for folder in [near, *near.parents]:
            path = folder / KEYS / f"{key_id}.json"
            if path.is_file():
                record = _read(path)
                if record is not None and record.get("key_id") == key_id:
                    return self._unwrap(record, path)
        return None

    def _unwrap(self, record: dict[str, str], path: Path) -> bytes:
        with self._lock:  # held across the KMS call: threads opening at once unwrap it once
            return self._unwrap_locked(record, path)

    def _unwrap_locked(self, record: dict[str, str], path: Path) -> bytes:
        key_id = record["key_id"]
        if key_id in self._plain:
            return self._plain[key_id]
        if record.get("kms") != self.client.uri:
            raise SealError(
                f"{path}: this data key is wrapped by {record.get('kms')}, but "
                f"encryption.key is {self.client.uri}; set encryption.key to the KMS key that "
                "wrapped it, or re-run with --no-cache"
            )
        key = self.client.unwrap(str(record["wrapped"]), str(record["kms_key"]))
        if Sealer.from_key(key).key_id != key_id:
            raise SealError(f"{path}: the unwrapped data key does not match key id {key_id}")
        self._plain[key_id], self._records[key_id] = key, record
        return key


def _read(path: Path) -> dict[str, str] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(raw, dict) and raw.get("format") == FORMAT
    return raw if ok and all(isinstance(raw.get(k), str) for k in ("key_id", "kms")) else None


def _records(folder: Path) -> list[dict[str, str]]:
    """The store's wrapped keys, newest first."""
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [r for r in map(_read, paths) if r is not None]


# (KMS URI, digest of the credentials, encryption.ca_file) -> ring
_RINGS: dict[tuple[str, str, str], KeyRing] = {}
_RINGS_LOCK = threading.Lock()


def shared_ring(
    uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
) -> KeyRing:
    """This process's key ring for ``uri`` with ``credentials``, made on first use. Keyed by a
    digest of the credentials and by the CA file: other credentials or another trust get their
    own client and ask the KMS again."""
    text = json.dumps(sorted(credentials.items())).encode()
    key = (uri, hashlib.sha256(text).hexdigest(), str(ca_file or ""))
    with _RINGS_LOCK:
        ring = _RINGS.get(key)
        if ring is None:
            ring = KeyRing(kms_client(uri, credentials, f"{where} ({uri})", ca_file), where)
            _RINGS[key] = ring
        return ring


def kms_sealer(
    uri: str,
    credentials: Mapping[str, str],
    store: Path,
    where: str = "encryption.key",
    ca_file: Path | None = None,
) -> Sealer:
    """The sealer of ``store`` for the KMS key ``uri``, through the process's shared ring."""
    return shared_ring(uri, credentials, where, ca_file).sealer_for(store)
