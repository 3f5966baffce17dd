"""A throwaway PostgreSQL cluster on a loopback port, for tests and benchmarks.

PostgreSQL refuses to run as root, so when this process is root the server runs as the
``postgres`` user (created by Debian's ``postgresql`` package) in a temporary folder it owns.
Setup: ``apt-get install -y postgresql`` (scripts/setup-test-env does it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.supply.registry_server import free_port, make_tls_material

USER = "lg"
PASSWORD = "Pg-4tQ8-pw-Hx2Vn"  # a value that appears nowhere else


def pg_bin() -> Path | None:
    """The folder of initdb/pg_ctl from Debian's packages, or None when absent."""
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/initdb")) if root.is_dir() else []
    return found[-1].parent if found else None


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path
    tls: bool = False

    @property
    def ca(self) -> Path:
        """The test CA that signed the server's certificate (``tls=True`` clusters)."""
        return self.folder / "ca.crt"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname=postgres"

    def _as_owner(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            cmd = " ".join(f"'{a}'" for a in argv)
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", cmd]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.folder / "data"
        self._as_owner(
            [
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "scram-sha-256",
                "-U",
                USER,
                f"--pwfile={self.folder / 'pw'}",
            ]
        )
        opts = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        if self.tls:
            opts += (
                f" -c ssl=on -c ssl_cert_file={self.folder / 'server.crt'}"
                f" -c ssl_key_file={self.folder / 'server.key'}"
            )
        self._as_owner(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(self.folder / "log"),
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        data = self.folder / "data"
        try:
            self._as_owner([str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster(*, tls: bool = False) -> Cluster:
    """initdb + pg_ctl start on a free loopback port; the caller must :meth:`Cluster.stop`.
    With ``tls`` the server also speaks TLS with a certificate from a fresh test CA."""
    binary = pg_bin()
    if binary is None:
        raise FileNotFoundError(
            "PostgreSQL server binaries are missing: apt-get install postgresql"
        )
    folder = Path(tempfile.mkdtemp(prefix="lockgate-pg-"))
    (folder / "pw").write_text(PASSWORD + "\n")
    if tls:
        make_tls_material(folder)  # the test CA and a server cert for 127.0.0.1 / localhost
        (folder / "server.key").chmod(0o600)
    if os.geteuid() == 0:
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, "postgres")
    cluster = Cluster(folder, free_port(), binary, tls)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return cluster
