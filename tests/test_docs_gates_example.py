"""docs/gates.md's complete environments example is loaded by the real loaders: the
lockgate.yaml part (with a stage added) through `lockgate validate`, the delivery.yaml part
through the delivery settings, and both name the same environment."""

from __future__ import annotations

import re

from lockgate.delivery.config import load_delivery_config
from tests.projects import REPO_ROOT, lockgate

DOC = REPO_ROOT / "docs" / "gates.md"


def _blocks() -> dict[str, str]:
    section = DOC.read_text().split("## Environments: a complete example", 1)[1]
    blocks = re.findall(r"```yaml\n(# (\S+).*?\n)(.*?)```", section, re.S)
    return {name: first + body for first, name, body in blocks}


def test_the_environments_example_loads(tmp_path):
    blocks = _blocks()
    assert set(blocks) == {"lockgate.yaml", "delivery.yaml"}
    spec = "version: 1\nname: gated\nimage: {base: lockgate/debian:bookworm}\n"
    spec += "stages:\n  s: {run: [sh, -c, 'true']}\n" + blocks["lockgate.yaml"]
    (tmp_path / "lockgate.yaml").write_text(spec)
    (tmp_path / "delivery.yaml").write_text(blocks["delivery.yaml"])
    result = lockgate("validate", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("ok: lockgate.yaml (gated, 1 stage)")
    delivery = load_delivery_config(tmp_path / "delivery.yaml")
    assert delivery.environment("production").strategy == "canary"
