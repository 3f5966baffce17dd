"""lockgate's SSH signatures against the real ``ssh-keygen -Y sign`` / ``-Y verify``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lockgate.delivery.ledger import sshsig
from lockgate.delivery.ledger.allowed_signers import parse_allowed_signers, signer_of
from lockgate.errors import LockgateError
from tests.conftest import required_by_env
from tests.delivery.people import Team

pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None and not required_by_env(),
    reason="ssh-keygen (openssh-client) is not installed",
)
MESSAGE = b"lockgate statement v1\nop: approve\n"


def keygen(*args: str, stdin: bytes = MESSAGE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, check=False)


def test_ssh_keygen_verifies_what_lockgate_signs(tmp_path: Path) -> None:
    team = Team(tmp_path, {"lena": ("ml-leads",)})
    sig = tmp_path / "sig"
    sig.write_text(sshsig.sign(sshsig.load_private_key(team.key("lena")), MESSAGE))
    ok = keygen(
        "-Y",
        "verify",
        "-f",
        str(team.allowed_signers),
        "-I",
        "lena",
        "-n",
        "lockgate",
        "-s",
        str(sig),
    )
    assert ok.returncode == 0, ok.stderr
    bad = keygen(
        "-Y",
        "verify",
        "-f",
        str(team.allowed_signers),
        "-I",
        "lena",
        "-n",
        "lockgate",
        "-s",
        str(sig),
        stdin=MESSAGE + b"x",
    )
    assert bad.returncode != 0


def test_lockgate_verifies_what_ssh_keygen_signs(tmp_path: Path) -> None:
    team = Team(tmp_path, {"lena": ()}, strangers=("mallory",))
    message = tmp_path / "statement"
    message.write_bytes(MESSAGE)
    done = keygen("-Y", "sign", "-f", str(team.key("lena")), "-n", "lockgate", str(message))
    assert done.returncode == 0, done.stderr
    sig = sshsig.parse(Path(f"{message}.sig").read_text())
    sshsig.verify(sig, MESSAGE)
    signers = parse_allowed_signers(team.allowed_signers.read_text(), "allowed_signers")
    assert signer_of(signers, sig.public_key, "lockgate").person == "lena"
    with pytest.raises(sshsig.SignatureError, match="does not match the statement"):
        sshsig.verify(sig, MESSAGE + b"x")
    with pytest.raises(sshsig.SignatureError, match="signed for namespace 'lockgate', not 'git'"):
        sshsig.verify(sig, MESSAGE, namespace="git")
    with pytest.raises(LockgateError, match="not in the allowed-signers file for namespace 'git'"):
        signer_of(signers, sig.public_key, "git")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lena ssh-rsa AAAA", "allowed_signers:2: expected `PRINCIPALS"),
        ("lena,omar ssh-ed25519 AAAA", "allowed_signers:2: name exactly one person"),
        (
            "lena cert-authority ssh-ed25519 AAAA",
            "allowed_signers:2: unsupported option 'cert-authority'",
        ),
        ("lena ssh-ed25519 !!!", "allowed_signers:2: the key is not valid base64"),
    ],
)
def test_bad_allowed_signers_lines_are_located(line: str, message: str) -> None:
    with pytest.raises(LockgateError, match=message.replace("`", "`")):
        parse_allowed_signers(f"# the team\n{line}\n", "allowed_signers")
