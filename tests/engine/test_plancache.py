"""The compiled-plan cache: an unchanged spec skips parsing and validation, while any change to
the spec, or to a file an image recipe names, is still seen."""

from __future__ import annotations

import json

from tests.projects import lockgate, write_project

SPEC = """\
version: 1
name: pc
image: {base: lockgate/debian:bookworm, requirements: requirements.txt}
stages:
  a: {run: [sh, -c, 'echo a > "$LOCKGATE_OUT/a"']}
"""


def _plan(root):
    result = lockgate("plan", "--json", cwd=root)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_unchanged_spec_uses_the_compiled_plan(tmp_path):
    root = write_project(tmp_path / "p", SPEC, {"requirements.txt": "six\n"})
    first = _plan(root)
    cached = json.loads((root / ".lockgate" / "plan.json").read_text())
    assert [s["name"] for s in cached["stages"]] == ["a"]
    assert _plan(root) == first


def test_spec_edit_is_seen(tmp_path):
    root = write_project(tmp_path / "p", SPEC, {"requirements.txt": "six\n"})
    _plan(root)
    (root / "lockgate.yaml").write_text(SPEC + '  b: {run: ["true"], needs: [a]}\n')
    assert [r["stage"] for r in _plan(root)] == ["a", "b"]
    (root / "lockgate.yaml").write_text(
        SPEC.replace("needs", "needz") + "  b: {run: x, needz: [a]}\n"
    )
    bad = lockgate("plan", cwd=root)
    assert bad.code == 2 and "unknown key 'needz'" in bad.stderr


def test_requirements_edit_changes_the_image(tmp_path):
    root = write_project(tmp_path / "p", SPEC, {"requirements.txt": "six\n"})
    before = _plan(root)[0]["image"]
    (root / "requirements.txt").write_text("six==1.16.0\n")
    after = _plan(root)[0]["image"]
    assert before != after and after.startswith("lockgate-runner/pc:")


def test_corrupt_plan_cache_is_ignored(tmp_path):
    root = write_project(tmp_path / "p", SPEC, {"requirements.txt": "six\n"})
    first = _plan(root)
    (root / ".lockgate" / "plan.json").write_text("{not json")
    assert _plan(root) == first
