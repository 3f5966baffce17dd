"""``lockgate plan`` shows what each stage is given beyond its folders: the engine socket
(``engine: true``), secrets, GPUs; in text and in ``--json``."""

from __future__ import annotations

import json

from tests.projects import lockgate, write_project

SPEC = """\
version: 1
name: grants
image: {base: lockgate/debian:bookworm}
secrets:
  token: {env: SOME_TOKEN}
stages:
  build: {run: ["true"], engine: true}
  sign: {run: ["true"], needs: [build], secrets: [token]}
  plain: {run: ["true"], needs: [sign]}
"""


def test_plan_shows_the_engine_socket_and_secrets(tmp_path):
    root = write_project(tmp_path / "p", SPEC)
    text = lockgate("plan", cwd=root)
    assert text.code == 0, text.stderr
    lines = {
        line.split()[1]: line for line in text.stdout.splitlines() if line[:4].strip(" .").isdigit()
    }
    assert (
        "ENGINE SOCKET (engine: true: can start containers as root on the host)" in lines["build"]
    )
    assert lines["sign"].endswith("— secrets: token") and "ENGINE" not in lines["sign"]
    assert "—" not in lines["plain"]
    rows = json.loads(lockgate("plan", "--json", cwd=root).stdout)
    assert [(r["stage"], r["engine"], r["secrets"]) for r in rows] == [
        ("build", True, []),
        ("sign", False, ["token"]),
        ("plain", False, []),
    ]
