"""Generated files for every example spec match the committed golden files byte for byte.

Regenerate after an intended change with
``LOCKGATE_REGENERATE=1 python -m pytest tests/generator/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from generator_examples import EXAMPLE_NAMES, EXAMPLES, GOLDEN, PROVIDER_NAMES, REPO

from lockgate.generator.gitlab_templates import SHIPPED
from lockgate.generator.render import render_files

REGENERATE = os.environ.get("LOCKGATE_REGENERATE") == "1"


def check_same_text(path: Path, text: str) -> None:
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path}; regenerate (see module docstring)"
    assert path.read_text(encoding="utf-8") == text, f"{path} drifted; regenerate and review"


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_matches_golden(example: str, provider: str) -> None:
    root = EXAMPLES / example
    files = render_files(provider=provider, spec=root / "lockgate.yaml", root=root)
    folder = GOLDEN / example / provider
    expected = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    if not REGENERATE:
        assert {f.path for f in files} == expected
    for rendered in files:
        check_same_text(folder / rendered.path, rendered.text)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_same_spec_same_bytes(example: str) -> None:
    root = EXAMPLES / example
    first = render_files(provider="all", spec=root / "lockgate.yaml", root=root)
    second = render_files(provider="all", spec=root / "lockgate.yaml", root=root)
    assert first == second


@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_shipped_gitlab_templates_match(path: str) -> None:
    check_same_text(REPO / path, SHIPPED[path]())
