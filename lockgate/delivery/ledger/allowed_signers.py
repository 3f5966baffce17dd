"""The team's allowed-signers file: which SSH key belongs to which person, and to which groups.

Same lines as git's ``gpg.ssh.allowedSignersFile`` (and ``ssh-keygen -Y verify -f``)::

    lena,@ml-leads namespaces="lockgate" ssh-ed25519 AAAAC3Nza... lena@laptop
    omar ssh-ed25519 AAAAC3Nza...

The first field lists principals, comma-separated: the first plain name is the person, names
starting with ``@`` are groups the key's owner belongs to. ``namespaces="..."`` (optional) limits
the key to those signature namespaces; lockgate signs in the ``lockgate`` namespace. Blank lines
and ``#`` comments are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from lockgate.delivery.ledger.sshsig import KEY_TYPE, fingerprint
from lockgate.errors import LockgateError


@dataclass(frozen=True)
class AllowedSigner:
    person: str
    groups: tuple[str, ...]  # without the leading "@"
    key: bytes  # SSH wire form of the public key
    namespaces: tuple[str, ...]  # empty: any namespace
    where: str  # file:line

    def allows(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces


def _options(text: str, where: str) -> tuple[str, ...]:
    namespaces: list[str] = []
    for option in re.findall(r'[^,=]+="[^"]*"|[^,]+', text):
        name, _, value = option.partition("=")
        if name.lower() != "namespaces" or not value:
            raise LockgateError(
                f'{where}: unsupported option {option!r}; lockgate reads only namespaces="..."'
            )
        namespaces += [n.strip() for n in value.strip('"').split(",") if n.strip()]
    return tuple(namespaces)


def parse_allowed_signers(text: str, source: str) -> tuple[AllowedSigner, ...]:
    signers = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        namespaces: tuple[str, ...] = ()
        rest = fields[1:]
        if len(rest) > 2 and rest[0] != KEY_TYPE and rest[1] == KEY_TYPE:
            namespaces, rest = _options(rest[0], where), rest[1:]
        if len(rest) < 2 or rest[0] != KEY_TYPE:
            raise LockgateError(
                f'{where}: expected `PRINCIPALS [namespaces="..."] {KEY_TYPE} KEY [comment]`'
            )
        try:
            key = base64.b64decode(rest[1], validate=True)
        except binascii.Error:
            raise LockgateError(f"{where}: the key is not valid base64") from None
        principals = [p for p in fields[0].split(",") if p]
        people = [p for p in principals if not p.startswith("@")]
        if len(people) != 1:
            raise LockgateError(
                f"{where}: name exactly one person for the key (and any @groups), got {fields[0]!r}"
            )
        groups = tuple(p[1:] for p in principals if p.startswith("@"))
        signers.append(AllowedSigner(people[0], groups, key, namespaces, where))
    return tuple(signers)


def load_allowed_signers(path: Path) -> tuple[AllowedSigner, ...]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LockgateError(
            f"{path}: cannot read the allowed-signers file ({exc.strerror or exc})"
        ) from None
    return parse_allowed_signers(text, str(path))


def signer_of(signers: tuple[AllowedSigner, ...], key: bytes, namespace: str) -> AllowedSigner:
    """The listed owner of ``key``; a :class:`LockgateError` naming the key when none is."""
    for signer in signers:
        if signer.key == key and signer.allows(namespace):
            return signer
    raise LockgateError(
        f"key {fingerprint(key)} is not in the allowed-signers file "
        f"for namespace {namespace!r}: ask the team to add your public key"
    )
