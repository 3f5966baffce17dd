"""The ``lockgate/scan`` stage against real images in real registries, scanned by real trivy."""

# ruff: noqa: F811  (fixtures imported from tests.supply.conftest are taken as arguments)

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from lockgate.errors import LockgateError
from lockgate.stages import BUILTIN_STAGES
from lockgate.stages.scan import main
from lockgate.stages.supply_config import StageConfigError
from lockgate.supply.gitlab_report import schema_problems
from lockgate.supply.image_ref import ImageRefError
from lockgate.supply.registry import RegistryError
from lockgate.supply.trivy_scan import ScanFailed
from tests.supply.conftest import (  # noqa: F401  (fixtures used by name below)
    PushImage,
    plain_registry,
    push_image,
    sarif_schema,
    tls_registry,
    trivy,
)
from tests.supply.pipeline import fake_aws_key, stage_ctx
from tests.supply.registry_server import RegistryServer

DPKG_STATUS = b"""Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
Architecture: amd64

Package: libssl3
Status: install ok installed
Version: 3.0.15-1~deb12u1
Architecture: amd64
"""
BASE = {
    "etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    "etc/debian_version": b"12.8\n",
    "var/lib/dpkg/status": DPKG_STATUS,
}


def test_scan_is_registered() -> None:
    assert BUILTIN_STAGES["scan"] == "lockgate.stages.scan:main"


def test_planted_aws_key_is_found_and_blocks_the_stage(
    plain_registry: RegistryServer,
    push_image: PushImage,
    sarif_schema: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = fake_aws_key()
    ref = push_image(
        plain_registry,
        "scan/leaky:v1",
        {"app/deploy.sh": f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={key}\n".encode()},
        base=BASE,
    )
    ctx = stage_ctx(tmp_path, "scan", {"image": str(ref), "scanners": ["secret"]})
    assert main(ctx) == 1
    assert capsys.readouterr().err.splitlines() == [
        "scan: secret aws-access-key-id CRITICAL in /app/deploy.sh:2"
    ]
    report = json.loads((ctx.out / "trivy.json").read_text())
    secrets = [
        (r["Target"], s["RuleID"], s["Severity"], s["StartLine"])
        for r in report["Results"]
        for s in r.get("Secrets", [])
    ]
    assert secrets == [("/app/deploy.sh", "aws-access-key-id", "CRITICAL", 2)]
    verdict = json.loads((ctx.out / "scan-verdict.json").read_text())
    assert verdict["passed"] is False and verdict["counts"]["CRITICAL"] == 1
    assert verdict["artifact"] == str(ref)
    jsonschema.validate(
        json.loads((ctx.out / "trivy.sarif").read_text()), json.loads(sarif_schema.read_text())
    )
    assert (
        schema_problems(json.loads((ctx.out / "gl-container-scanning-report.json").read_text()))
        == []
    )
    sbom = json.loads((ctx.out / "sbom.cdx.json").read_text())
    assert {"zlib1g", "libssl3"} <= {c["name"] for c in sbom["components"]}
    for output in ctx.out.rglob("*"):
        assert key not in output.read_text(errors="replace"), output.name  # trivy masks it
    assert (ctx.state / "trivy-cache" / "fanal").is_dir()


def test_clean_image_passes_and_expired_ignores_are_announced(
    plain_registry: RegistryServer,
    push_image: PushImage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = push_image(plain_registry, "scan/clean:v1", {"app/model.txt": b"weights"}, base=BASE)
    ctx = stage_ctx(
        tmp_path,
        "scan",
        {
            "image": str(ref),
            "scanners": ["secret"],
            "ignore": [{"id": "CVE-2020-0001", "justification": "old", "expires": "2020-01-01"}],
        },
    )
    assert main(ctx) == 0
    assert capsys.readouterr().err == (
        "WARNING: EXPIRED IGNORE CVE-2020-0001 (expired 2020-01-01): matches nothing; "
        "renew or remove it\n"
    )
    assert "## Image scan passed" in (ctx.out / "report.md").read_text()


def test_tls_registry_with_basic_auth(
    tls_registry: RegistryServer,
    push_image: PushImage,
    tmp_path: Path,
) -> None:
    ref = push_image(tls_registry, "scan/private:v1", {"app/model.txt": b"w"})
    assert tls_registry.tls is not None
    registry = {
        "username_secret": "reg-user",
        "password_secret": "reg-pass",
        "ca_file": str(tls_registry.tls[0]),
    }
    good = stage_ctx(
        tmp_path / "good",
        "scan",
        {"image": str(ref), "scanners": ["secret"], "registry": registry},
        secrets={"reg-user": "lockgate", "reg-pass": "s3cret-registry-pass"},
    )
    assert main(good) == 0
    bad = stage_ctx(
        tmp_path / "bad",
        "scan",
        {"image": str(ref), "scanners": ["secret"], "registry": registry},
        secrets={"reg-user": "lockgate", "reg-pass": "wrong-pass"},
    )
    with pytest.raises(RegistryError) as err:
        main(bad)
    assert str(err.value) == (
        f"registry {tls_registry.host} refused the credentials while trivy read {ref}: "
        "check the registry username/password secrets"
    )
    assert isinstance(err.value, LockgateError)


def test_vulnerability_scanning_without_a_db_is_a_clear_error(
    plain_registry: RegistryServer,
    push_image: PushImage,
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "scan/nodb:v1", {"app/x": b"x"})
    ctx = stage_ctx(tmp_path, "scan", {"image": str(ref)})
    with pytest.raises(
        ScanFailed,
        match=r"vulnerability scanning needs trivy's DB and none is "
        r"in .*trivy-cache: set with\.db_repository",
    ):
        main(ctx)


def test_bad_with_blocks_are_named(tmp_path: Path, trivy: object) -> None:
    ctx = stage_ctx(
        tmp_path,
        "scan",
        {"image": "r.example/app@sha256:" + "0" * 64, "fail_on_severity": ["HIGH"]},
    )
    with pytest.raises(
        StageConfigError,
        match=r"^stage scan: with\.fail_on_severity: unknown key 'fail_on_severity'; "
        r"did you mean 'fail_on'\?$",
    ):
        main(ctx)
    tagged = stage_ctx(tmp_path / "t", "scan", {"image": "r.example/app:v1"})
    with pytest.raises(ImageRefError, match=r"^pin by digest: r\.example/app:v1"):
        main(tagged)


def test_package_indexes_are_skipped_unless_asked(
    plain_registry: RegistryServer,
    push_image: PushImage,
    tmp_path: Path,
) -> None:
    line = f"export AWS_ACCESS_KEY_ID={fake_aws_key()}\n".encode()
    ref = push_image(plain_registry, "scan/lists:v1", {"var/lib/apt/lists/leak_Packages": line})
    default = stage_ctx(tmp_path / "default", "scan", {"image": str(ref), "scanners": ["secret"]})
    assert main(default) == 0
    everything = stage_ctx(
        tmp_path / "all", "scan", {"image": str(ref), "scanners": ["secret"], "skip_dirs": []}
    )
    assert main(everything) == 1
