"""docs/ingest.md's reference pipeline is a spec `lockgate validate` accepts, ingest `with:`
block included (checked by the stage's own model)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.projects import REPO_ROOT, lockgate

DOC = REPO_ROOT / "docs" / "ingest.md"


def test_the_reference_example_validates(tmp_path: Path) -> None:
    block = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)[0]
    head = "version: 1\nname: from-postgres\nimage: {base: lockgate/debian:bookworm}\n"
    (tmp_path / "lockgate.yaml").write_text(head + block)
    result = lockgate("validate", cwd=tmp_path, env={"PG_PASSWORD": "x"})
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("ok: lockgate.yaml (from-postgres, 3 stages)")
