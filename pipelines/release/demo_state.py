"""The release demo's state, created on first use and kept in one folder: a local registry with
TLS and basic authentication, the pipeline's cosign key pair, the people's SSH keys and the
team's allowed-signers file, the generated passwords, and a work copy of the pipeline.

Nothing here is a mock: the registry is the real ``docker-registry`` (distribution), the
certificates come from ``openssl``, the password file from ``htpasswd``, the keys from
``cosign generate-key-pair`` and ``ssh-keygen``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIPELINE_FILES = (
    "lockgate.yaml",
    "verify.yaml",
    "prepare.py",
    "model.py",
    "export.py",
    "mlp_serving.py",
    "requirements.txt",
    "package-requirements.txt",
)
REGISTRY_USER = "pusher"  # a secret: logs mask it, so it is no word they need
PROMOTER = "release-bot"  # the CI identity that promotes
APPROVERS = ("lena", "omar")  # two release managers: four eyes
AUTHOR = "dana"  # who wrote the change (may not approve it)


class SetupFailed(RuntimeError):
    """A tool the demo needs failed; the message says which and what it printed."""


def _run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    tool = shutil.which(argv[0])
    if tool is None:
        raise SetupFailed(f"{argv[0]} is not installed: run scripts/setup-test-env")
    done = subprocess.run(
        [tool, *argv[1:]],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SetupFailed(f"{' '.join(argv[:2])} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def _secret_file(path: Path) -> str:
    """A generated password, kept (mode 600) so that later runs reuse it."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(18))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Registry:
    folder: Path
    port: int
    password: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def answers(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            urllib.request.urlopen(f"https://{self.host}/v2/", timeout=2, context=context)
        except urllib.error.HTTPError as error:
            return error.code == 401  # up, and it wants credentials
        except (urllib.error.URLError, OSError):
            return False
        return True

    def start(self) -> None:
        """Start the registry unless it already answers; it keeps running between runs."""
        if self.ca.is_file() and self.answers():
            return
        self.stop()  # one that was started on another port
        self._certificates()
        _run(["htpasswd", "-Bbc", str(self.folder / "htpasswd"), REGISTRY_USER, self.password])
        (self.folder / "config.yml").write_text(
            "version: 0.1\n"
            f"storage: {{filesystem: {{rootdirectory: {self.folder / 'data'}}}}}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
            f"  tls: {{certificate: {self.folder / 'server.pem'}, "
            f"key: {self.folder / 'server.key'}}}\n"
            f"auth: {{htpasswd: {{realm: lockgate-release, path: {self.folder / 'htpasswd'}}}}}\n"
            "log: {level: warn}\n"
        )
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            raise SetupFailed("docker-registry is not installed: run scripts/setup-test-env")
        log = (self.folder / "registry.log").open("ab")
        process = subprocess.Popen(
            [binary, "serve", str(self.folder / "config.yml")],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        (self.folder / "registry.pid").write_text(f"{process.pid}\n")
        for _ in range(100):
            if self.answers():
                return
            if process.poll() is not None:
                break
            time.sleep(0.1)
        raise SetupFailed(f"the registry on {self.host} did not start: see {log.name}")

    def stop(self) -> None:
        pid_file = self.folder / "registry.pid"
        if pid_file.is_file():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), 15)
            pid_file.unlink()

    def _certificates(self) -> None:
        if (self.folder / "server.pem").is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        key, ca_key = self.folder / "server.key", self.folder / "ca.key"
        csr, cert = self.folder / "server.csr", self.folder / "server.pem"
        subject = ["-nodes", "-newkey", "rsa:2048", "-subj"]
        _run(["openssl", "req", "-x509", "-days", "3650", *subject, "/CN=lockgate release CA",
              "-keyout", str(ca_key), "-out", str(self.ca)])  # fmt: skip
        _run(["openssl", "req", *subject, "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr)])
        (self.folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey",
              str(ca_key), "-CAcreateserial", "-days", "3650", "-out", str(cert),
              "-extfile", str(self.folder / "san.ext")])  # fmt: skip


@dataclass(frozen=True)
class DemoState:
    """Everything the demo keeps between runs, under ``root``."""

    root: Path

    @property
    def people(self) -> Path:
        return self.root / "people"

    @property
    def project(self) -> Path:
        return self.root / "project"

    def registry(self, port: int | None) -> Registry:
        folder = self.root / "registry"
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / "port"
        if port is None:
            port = int(port_file.read_text()) if port_file.is_file() else 5443
        port_file.write_text(f"{port}\n")
        return Registry(folder, port, _secret_file(self.root / "secrets" / "registry-password"))

    def cosign_password(self) -> str:
        return _secret_file(self.root / "secrets" / "cosign-password")

    def cosign_keys(self) -> Path:
        """The pipeline's signing key pair, created on first run."""
        keys = self.root / "cosign"
        if not (keys / "cosign.key").is_file():
            keys.mkdir(parents=True, exist_ok=True)
            env = {"COSIGN_PASSWORD": self.cosign_password(), "TUF_ROOT": str(keys / "tuf")}
            _run(["cosign", "generate-key-pair"], cwd=keys, env=env)
        return keys

    def person_key(self, name: str) -> Path:
        """``name``'s own Ed25519 SSH key (an approver's or the promoting CI's)."""
        key = self.people / name
        if not key.is_file():
            self.people.mkdir(parents=True, exist_ok=True)
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)])
        return key

    def allowed_signers(self) -> str:
        lines = []
        for name in (PROMOTER, *APPROVERS):
            public = self.person_key(name).with_suffix(".pub").read_text().split()
            groups = ",@release-managers" if name in APPROVERS else ""
            lines.append(f'{name}{groups} namespaces="lockgate" {public[0]} {public[1]} {name}')
        return "\n".join(lines) + "\n"

    def fresh_project(self, registry: Registry, env_names: dict[str, str]) -> Path:
        """A clean work copy of the pipeline: its files, the public trust material, the
        registry's address; ``env_names`` renames environments (tests run beside a demo)."""
        if self.project.exists():
            shutil.rmtree(self.project)
        self.project.mkdir(parents=True)
        for name in PIPELINE_FILES:
            text = (HERE / name).read_text().replace("127.0.0.1:5443", registry.host)
            for old, new in env_names.items():
                text = _rename_environment(text, old, new)
            (self.project / name).write_text(text)
        (self.project / "certs").mkdir()
        shutil.copy(registry.ca, self.project / "certs" / "registry-ca.pem")
        (self.project / "keys").mkdir()
        keys = self.cosign_keys()
        for name in ("cosign.key", "cosign.pub"):  # the private key is encrypted
            shutil.copy(keys / name, self.project / "keys" / name)
        (self.project / "team").mkdir()
        (self.project / "team" / "allowed_signers").write_text(self.allowed_signers())
        return self.project


def _rename_environment(text: str, old: str, new: str) -> str:
    for pattern in (f"name: {old}\n", f"requires_healthy_in: {old}\n"):
        text = text.replace(pattern, pattern.replace(old, new))
    return text
