"""GitLab container-scanning reports (schema 15.x) generated from trivy's JSON."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from lockgate.supply.gitlab_report import container_scanning_report, schema_problems
from lockgate.supply.trivy_report import load_report

WHEN = datetime(2026, 1, 2, 3, 4, 5)


def _key(vuln: dict[str, object]) -> tuple[str, str, str, str]:
    loc = vuln["location"]
    assert isinstance(loc, dict)
    ident = vuln["identifiers"][0]  # type: ignore[index]
    return (
        ident["value"],
        loc["dependency"]["package"]["name"],
        loc["dependency"]["version"],
        vuln["severity"],
    )  # type: ignore[return-value]


def test_report_holds_the_same_findings_as_trivys_own_gitlab_output(
    trivy_fixtures: Path,
) -> None:
    report = load_report(trivy_fixtures / "alpine-310.json")
    mine = container_scanning_report(report, "registry.test/app@sha256:" + "a" * 64, WHEN, WHEN)
    golden = json.loads((trivy_fixtures / "alpine-310.gitlab").read_text())
    assert sorted(map(_key, mine["vulnerabilities"])) == sorted(
        map(_key, golden["vulnerabilities"])
    )
    assert {v["location"]["operating_system"] for v in mine["vulnerabilities"]} == {"alpine 3.10.2"}
    assert mine["scan"]["start_time"] == "2026-01-02T03:04:05"
    assert mine["scan"]["type"] == "container_scanning"


def test_generated_report_has_every_field_schema_15_requires(trivy_fixtures: Path) -> None:
    for name in ("alpine-310.json", "debian-stretch.json", "pip.json", "secrets.json"):
        report = load_report(trivy_fixtures / name)
        doc = container_scanning_report(report, "img@sha256:" + "b" * 64, WHEN, WHEN)
        assert schema_problems(doc) == [], name
    ids = [
        v["id"]
        for v in container_scanning_report(
            load_report(trivy_fixtures / "alpine-310.json"), "i", WHEN, WHEN
        )["vulnerabilities"]
    ]
    assert len(set(ids)) == len(ids) == 4  # same CVE in two packages: two distinct ids


def test_the_structure_check_accepts_trivys_15x_output_and_catches_breakage(
    trivy_fixtures: Path,
) -> None:
    golden = json.loads((trivy_fixtures / "alpine-310.gitlab").read_text())
    assert schema_problems(golden) == []
    broken = json.loads(json.dumps(golden))
    del broken["vulnerabilities"][1]["location"]["image"]
    broken["vulnerabilities"][2]["identifiers"] = []
    broken["vulnerabilities"][3]["severity"] = "Severe"
    broken["scan"]["start_time"] = "2026-01-02 03:04"
    assert schema_problems(broken) == [
        "$.scan.start_time must be YYYY-MM-DDTHH:MM:SS",
        "$.vulnerabilities[1].location.image is required",
        "$.vulnerabilities[2].identifiers needs at least one entry",
        "$.vulnerabilities[3].severity 'Severe' is not a GitLab severity",
    ]


def test_secrets_and_misconfigurations_stay_out_of_container_scanning(
    trivy_fixtures: Path,
) -> None:
    for name in ("secrets.json", "dockerfile.json"):
        doc = container_scanning_report(load_report(trivy_fixtures / name), "i", WHEN, WHEN)
        assert doc["vulnerabilities"] == []
