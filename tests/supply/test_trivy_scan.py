"""The trivy command line lockgate builds (run for real in tests/stages/test_scan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.tools import Trivy
from lockgate.supply.trivy_scan import ScanFailed, ScanSettings, TrivyScanner

REF = ImageRef.parse("registry.example/app@sha256:" + "e" * 64)


def test_offline_by_default(trivy: Trivy, tmp_path: Path) -> None:
    argv = TrivyScanner(trivy).image_argv(REF, ScanSettings(tmp_path, ("secret",)), tmp_path / "o")
    assert argv[0] == str(trivy.path) and argv[-1] == str(REF)
    for flag in ("--skip-db-update", "--skip-java-db-update", "--offline-scan", "--image-src"):
        assert flag in argv
    assert argv[argv.index("--scanners") + 1] == "secret"
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path)
    assert argv[argv.index("--skip-dirs") + 1] == "/var/lib/apt/lists"


def test_db_mirror_turns_updates_back_on(trivy: Trivy, tmp_path: Path) -> None:
    settings = ScanSettings(
        tmp_path,
        ("vuln", "secret"),
        db_repository="mirror.example/trivy-db:2",
        java_db_repository="mirror.example/trivy-java-db:1",
    )
    argv = TrivyScanner(trivy).image_argv(REF, settings, tmp_path / "o")
    assert "--skip-db-update" not in argv and "--offline-scan" not in argv
    assert argv[argv.index("--db-repository") + 1] == "mirror.example/trivy-db:2"
    assert argv[argv.index("--java-db-repository") + 1] == "mirror.example/trivy-java-db:1"


def test_quiet_flags_only_when_this_trivy_knows_them(trivy: Trivy, tmp_path: Path) -> None:
    argv = TrivyScanner(trivy).image_argv(REF, ScanSettings(tmp_path, ("secret",)), tmp_path / "o")
    # 0.59.1 predates --skip-version-check/--disable-telemetry: passing them would abort the scan
    assert "--skip-version-check" not in argv and "--disable-telemetry" not in argv


def test_unknown_scanner_and_tag_are_refused(trivy: Trivy, tmp_path: Path) -> None:
    scanner = TrivyScanner(trivy)
    with pytest.raises(ScanFailed, match=r"unknown \['sbom'\]"):
        scanner.image_argv(REF, ScanSettings(tmp_path, ("sbom",)), tmp_path / "o")
    with pytest.raises(ScanFailed, match="pin by digest"):
        scanner.image_argv(
            ImageRef.parse("registry.example/app:v1"),
            ScanSettings(tmp_path, ("secret",)),
            tmp_path / "o",
        )
