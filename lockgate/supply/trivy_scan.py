"""Run the pinned trivy on an image by digest, offline by default, and convert its JSON report
to SARIF and CycloneDX with ``trivy convert`` (no second scan)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.progress import heartbeat
from lockgate.supply.registry import RegistryError
from lockgate.supply.registry_http import RegistryAccess
from lockgate.supply.tool_auth import tool_auth
from lockgate.supply.tools import Trivy

ALL_SCANNERS = ("vuln", "secret", "misconfig", "license")
OPTIONAL_QUIET_FLAGS = ("--skip-version-check", "--disable-telemetry")
# Package index downloads: tens of MB of text that hold no secrets of the image's own, and
# make trivy's secret scan ~40x slower. The installed-package database (/var/lib/dpkg) stays.
DEFAULT_SKIP_DIRS = ("/var/lib/apt/lists",)


class ScanFailed(LockgateError):
    """trivy could not scan the image (not a finding: the scan itself broke)."""


@dataclass(frozen=True)
class ScanSettings:
    cache_dir: Path
    scanners: tuple[str, ...] = ("vuln", "secret")
    db_repository: str | None = None
    java_db_repository: str | None = None
    timeout: str = "10m"
    skip_dirs: tuple[str, ...] = DEFAULT_SKIP_DIRS

    @property
    def offline(self) -> bool:
        return self.db_repository is None


Runner = Callable[..., subprocess.CompletedProcess[str]]
_HELP_CACHE: dict[tuple[str, int], str] = {}


def _help_text(trivy: Trivy, run: Runner) -> str:
    key = (str(trivy.path), trivy.path.stat().st_mtime_ns)
    if key not in _HELP_CACHE:
        _HELP_CACHE[key] = run(
            trivy.argv("image", "--help"), capture_output=True, text=True, timeout=60
        ).stdout
    return _HELP_CACHE[key]


@dataclass
class TrivyScanner:
    trivy: Trivy
    run: Runner = subprocess.run

    def image_argv(self, ref: ImageRef, settings: ScanSettings, output: Path) -> list[str]:
        if not ref.digest:
            raise ScanFailed(f"pin by digest: {ref} (the scan must name exactly what ships)")
        unknown = set(settings.scanners) - set(ALL_SCANNERS)
        if unknown:
            raise ScanFailed(f"with.scanners: unknown {sorted(unknown)}; use {list(ALL_SCANNERS)}")
        args = [
            "image",
            "--image-src",
            "remote",
            "--scanners",
            ",".join(settings.scanners),
            "--format",
            "json",
            "--list-all-pkgs",
            "--output",
            str(output),
            "--quiet",
            "--cache-dir",
            str(settings.cache_dir),
            "--timeout",
            settings.timeout,
        ]
        if settings.skip_dirs:
            args += ["--skip-dirs", ",".join(settings.skip_dirs)]
        if settings.offline:
            args += [
                "--skip-db-update",
                "--skip-java-db-update",
                "--offline-scan",
                "--skip-check-update",
            ]
        else:
            args += ["--db-repository", str(settings.db_repository)]
            if settings.java_db_repository:
                args += ["--java-db-repository", settings.java_db_repository]
        help_text = _help_text(self.trivy, self.run)
        args += [flag for flag in OPTIONAL_QUIET_FLAGS if flag in help_text]
        return self.trivy.argv(*args, str(ref))

    def _check_db(self, settings: ScanSettings) -> None:
        if (
            "vuln" in settings.scanners
            and settings.offline
            and not (settings.cache_dir / "db" / "trivy.db").is_file()
        ):
            raise ScanFailed(
                f"vulnerability scanning needs trivy's DB and none is in {settings.cache_dir}: "
                "set with.db_repository to a DB mirror, or with.cache_dir to a folder holding "
                "one, or leave 'vuln' out of with.scanners"
            )

    def scan(
        self,
        ref: ImageRef,
        settings: ScanSettings,
        output: Path,
        access: RegistryAccess | None = None,
    ) -> None:
        self._check_db(settings)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        argv = self.image_argv(ref, settings, output)
        scanners = ", ".join(settings.scanners)
        with tool_auth(access) as auth, heartbeat(f"scan: trivy {scanners} on {ref}"):
            env = {**os.environ, "TRIVY_CACHE_DIR": str(settings.cache_dir), **auth.trivy_env}
            proc = self.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise _scan_error(ref, proc.stderr)

    def convert(self, report_json: Path, fmt: str, output: Path, extra: Sequence[str] = ()) -> None:
        argv = self.trivy.argv(
            "convert", "--format", fmt, "--output", str(output), "--quiet", *extra, str(report_json)
        )
        proc = self.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ScanFailed(f"trivy convert --format {fmt} failed: {_last_line(proc.stderr)}")


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _scan_error(ref: ImageRef, stderr: str) -> LockgateError:
    if "UNAUTHORIZED" in stderr or "401" in stderr:
        return RegistryError(
            f"registry {ref.registry} refused the credentials while trivy read {ref}: check the "
            "registry username/password secrets"
        )
    if "MANIFEST_UNKNOWN" in stderr or "NAME_UNKNOWN" in stderr:
        return ScanFailed(f"{ref}: no such image in {ref.registry}")
    if "x509" in stderr or "certificate" in stderr:
        return ScanFailed(
            f"{ref}: TLS verification failed; give the registry's CA (with.registry.ca_file)"
        )
    return ScanFailed(f"trivy could not scan {ref}: {_last_line(stderr)}")
