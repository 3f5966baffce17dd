"""docs/gates.md's complete environments example is loaded by the real loaders: the
spec (with a stage added) through `lockgate validate`, and each environment's rollout settings
through the loader the rollout commands use."""

from __future__ import annotations

import re

from lockgate.delivery.config import resolve_rollout
from tests.projects import REPO_ROOT, lockgate

DOC = REPO_ROOT / "docs" / "gates.md"


def _blocks() -> dict[str, str]:
    section = DOC.read_text().split("## Environments: a complete example", 1)[1]
    blocks = re.findall(r"```yaml\n(# (\S+).*?\n)(.*?)```", section, re.S)
    return {name: first + body for first, name, body in blocks}


def test_the_environments_example_loads(tmp_path):
    blocks = _blocks()
    assert set(blocks) == {"lockgate.yaml"}
    spec = "version: 1\nname: gated\nimage: {base: lockgate/debian:bookworm}\n"
    spec += "stages:\n  s: {run: [sh, -c, 'true']}\n" + blocks["lockgate.yaml"]
    (tmp_path / "lockgate.yaml").write_text(spec)
    result = lockgate("validate", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("ok: lockgate.yaml (gated, 1 stage)")
    assert result.stderr == ""
    production = resolve_rollout("production", start=tmp_path).settings
    assert [step.weight for step in production.canary.steps] == [10, 50, 100]
    assert production.analysis.conditions == ("error_rate < 0.01", "p95_ms < 200")
    staging = resolve_rollout("staging", start=tmp_path).settings
    assert (staging.target, staging.strategy) == ("docker", "canary")
