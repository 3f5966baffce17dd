"""`lockgate/scan` under the docker executor: trivy is not in the runner image, so the executor
lends the host's verified copy (read-only, pin checked again inside) and the stage scans a
registry on loopback. Real Docker engine, registry (distribution) and trivy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.executors.stage_tools import CONTAINER_TOOLS, stage_tools
from tests.projects import last_record, lockgate, write_project
from tests.supply.conftest import PushImage
from tests.supply.registry_server import RegistryServer

pytestmark = pytest.mark.docker

SPEC = """\
version: 1
name: scanned
image: {{base: {base}}}
stages:
  scan:
    uses: lockgate/scan
    with: {{image: "{ref}", scanners: [secret], registry: {{plain_http: true}}}}
"""


def test_scan_runs_in_its_container_with_the_hosts_trivy(
    tmp_path, plain_registry: RegistryServer, push_image: PushImage, base_image: str, trivy
) -> None:
    ref = push_image(plain_registry, "team/app", {"app/config.txt": b"nothing secret\n"})
    root = write_project(tmp_path / "p", SPEC.format(base=base_image, ref=ref))
    result = lockgate("run", "--executor", "docker", cwd=root, timeout=600)
    stage = last_record(root)["stages"][0]
    log = Path(stage["log"]).read_text()
    assert result.code == 0, log + result.stderr
    assert "trivy not found" not in log
    verdict = json.loads((Path(stage["out"]) / "scan-verdict.json").read_text())
    assert verdict["passed"] is True


def test_only_tool_stages_get_tools(trivy) -> None:
    assert stage_tools("lockgate/train").mounts == ()
    tools = stage_tools("lockgate/scan")
    assert tools.env["LOCKGATE_TRIVY"] == f"{CONTAINER_TOOLS}/trivy"
    assert tools.mounts[0][0] == trivy.path.resolve() and tools.host_network
