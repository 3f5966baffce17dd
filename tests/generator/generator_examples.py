"""Example specs and tools the generator tests share."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import missing_component

HERE = Path(__file__).parent
EXAMPLES = HERE / "examples"
GOLDEN = HERE / "golden"
REPO = HERE.parents[1]
# examples/pipeline-* are links to the reference pipelines, so every pipeline users copy is
# generated, validated and golden-checked like the examples written for these tests
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "lockgate.yaml").is_file())
PROVIDER_NAMES = ("github", "gitlab", "jenkins")
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def example_repo(tmp_path: Path, example: str) -> Path:
    """A fresh folder holding one example spec as its repository root."""
    root = tmp_path / example
    root.mkdir()
    shutil.copy(EXAMPLES / example / "lockgate.yaml", root / "lockgate.yaml")
    return root


def tool(name: str) -> str:
    """A validator's path: the test environment's own scripts first (check-jsonschema is a test
    dependency), then PATH. Missing, it skips — or fails when components are required."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        reason = f"{name} is not installed (see docs/ci.md, 'Testing the generator')"
        if os.environ.get("LOCKGATE_REQUIRE_ENGINE", "") not in ("", "0"):
            pytest.fail(f"{reason} (required by LOCKGATE_REQUIRE_ENGINE)")
        pytest.skip(reason=reason)
    return path


def java_env() -> dict[str, str]:
    if not Path(JAVA_HOME).is_dir():
        missing_component(f"no JDK at {JAVA_HOME} (apt-get install groovy)")
    return {**os.environ, "JAVA_HOME": JAVA_HOME}
