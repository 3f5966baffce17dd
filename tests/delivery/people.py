"""People with their own Ed25519 SSH keys, and the team's allowed-signers file listing them: how
tests act as someone (the proven path, never an environment variable).

Keys are written in the OpenSSH format that ``ssh-keygen -t ed25519`` writes, mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def write_key(path: Path) -> str:
    """A new private key at ``path``; returns its ``ssh-ed25519 AAAA...`` public line."""
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()


class Team:
    """``people``: name -> groups. ``key(name)`` is that person's private key file; the
    allowed-signers file lists every one of them (``strangers`` get keys but no listing)."""

    def __init__(
        self, root: Path, people: dict[str, tuple[str, ...]], strangers: tuple[str, ...] = ()
    ):
        self.root = root
        self.allowed_signers = root / "allowed_signers"
        lines = []
        for name, groups in people.items():
            public = write_key(self.key(name))
            principals = ",".join([name, *(f"@{g}" for g in groups)])
            lines.append(f'{principals} namespaces="lockgate" {public} {name}@laptop')
        for name in strangers:
            write_key(self.key(name))
        self.allowed_signers.write_text("\n".join(lines) + "\n")

    def key(self, name: str) -> Path:
        return self.root / "keys" / name


def with_allowed_signers(spec: str, team: Team) -> str:
    """``spec`` (with a ``policy:`` block) naming the team's allowed-signers file."""
    return spec.replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers}\n", 1)
