"""Built-in stage ``lockgate/scan``: scan an image by digest with the pinned trivy and gate on
the policy in ``with:``.

Exit 0 when the verdict passes, 1 when it fails (one line per deciding finding on stderr);
expired ignore entries are announced on stderr either way. Outputs: trivy.json, trivy.sarif,
gl-container-scanning-report.json, sbom.cdx.json, scan-verdict.json, report.md, metrics.json.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import Field

from lockgate.stages.context import StageContext
from lockgate.stages.supply_config import ImageSource, parse_with
from lockgate.supply.scan_gate import TRIVY_JSON, ScanWindow, gate_report
from lockgate.supply.scan_policy import ScanPolicy
from lockgate.supply.tools import find_trivy
from lockgate.supply.trivy_report import load_report
from lockgate.supply.trivy_scan import DEFAULT_SKIP_DIRS, ScanSettings, TrivyScanner
from lockgate.supply.vex import load_openvex

Scanner = Literal["vuln", "secret", "misconfig", "license"]


class ScanConfig(ImageSource, ScanPolicy):
    scanners: list[Scanner] = Field(default_factory=lambda: list[Scanner](["vuln", "secret"]))
    db_repository: str | None = Field(default=None, description="trivy DB mirror (OCI repo)")
    java_db_repository: str | None = None
    cache_dir: str | None = Field(default=None, description="trivy cache; default under state")
    skip_dirs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKIP_DIRS),
        description="folders in the image that no scanner reads",
    )

    def policy(self) -> ScanPolicy:
        return ScanPolicy.model_validate(
            {name: getattr(self, name) for name in ScanPolicy.model_fields}
        )


def main(ctx: StageContext, today: date | None = None) -> int:
    config = parse_with(ScanConfig, ctx)
    assert isinstance(config, ScanConfig)
    ref = config.image_ref(ctx)
    scanner = TrivyScanner(find_trivy())
    settings = ScanSettings(
        cache_dir=ctx.resolve(config.cache_dir) if config.cache_dir else ctx.state / "trivy-cache",
        scanners=tuple(config.scanners),
        db_repository=config.db_repository,
        java_db_repository=config.java_db_repository,
        skip_dirs=tuple(config.skip_dirs),
    )
    vex = [st for path in config.vex for st in load_openvex(ctx.resolve(path))]
    ctx.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    scanner.scan(ref, settings, ctx.out / TRIVY_JSON, config.access(ctx, ref))
    window = ScanWindow(str(ref), started, datetime.now(UTC))
    report = load_report(ctx.out / TRIVY_JSON)
    verdict = gate_report(
        report, config.policy(), vex, today or date.today(), ctx.out, window, scanner
    )
    for expired in verdict.expired_ignores:
        print(f"WARNING: {expired.warning()}", file=sys.stderr)
    if verdict.passed:
        return 0
    for line in verdict.failure_lines():
        print(line, file=sys.stderr)
    return 1
