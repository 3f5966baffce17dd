"""`lockgate generate` given an output it cannot or must not write, an existing file it cannot
read, or a flag for another provider: one line naming what to fix, exit 2, nothing written —
through the real CLI, so a traceback or an "internal error" would show."""

from __future__ import annotations

from pathlib import Path

import pytest
from generator_examples import example_repo

from tests.projects import lockgate


def _refused(root: Path, *argv: str) -> str:
    done = lockgate("generate", *argv, cwd=root)
    assert done.code == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("lockgate: error: "), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["github", "--out", "folder.yml"], "is a folder, not a file"),
        (["github", "--out", "../outside.yml"], "outside the repository root"),
        (["github", "--out", "{tmp}/outside.yml"], "outside the repository root"),
        (["github", "--out", "afile/sub/x.yml"], "cannot write it"),
        (["gitlab", "--component", 'x"; y'], "give HOST/PATH/lockgate@VERSION"),
        (["github", "--component", "gitlab.example.com/ci/lockgate@1.0.0"], "for GitLab"),
        (["gitlab", "--actions", "./"], "for GitHub"),
    ],
)
def test_an_output_it_cannot_write_is_one_line(tmp_path: Path, argv: list[str], says: str) -> None:
    root = example_repo(tmp_path, "minimal")
    (root / "folder.yml").mkdir()
    (root / "afile").write_text("")
    before = sorted(p.name for p in root.iterdir())
    assert says in _refused(root, *(a.format(tmp=tmp_path) for a in argv))
    assert sorted(p.name for p in root.iterdir()) == before
    assert not (tmp_path / "outside.yml").exists()


@pytest.mark.parametrize("mode", ["--check", "--update"])
def test_an_existing_file_that_is_not_utf8_is_one_line(tmp_path: Path, mode: str) -> None:
    root = example_repo(tmp_path, "minimal")
    (root / ".gitlab-ci.yml").write_bytes(b"\xff\xfe not utf-8")
    assert "not UTF-8 text" in _refused(root, "gitlab", mode)
    assert (root / ".gitlab-ci.yml").read_bytes() == b"\xff\xfe not utf-8"
