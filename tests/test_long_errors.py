"""An error that quotes the user's input stays short: a 30,000-item list given as `gpu` and a
100,000-character value are shown cut, with how much was left out, on the terminal and in
`--json`."""

from __future__ import annotations

import json

from lockgate.errors import MAX_LINE, clipped
from tests.projects import lockgate, write_project

HEAD = "version: 1\nname: w\nimage: {base: lockgate/debian:bookworm}\nstages:\n  a:\n    run: [x]\n"


def test_a_huge_value_is_shown_cut(tmp_path) -> None:
    spec = HEAD + "    gpu: [" + ",".join(["1"] * 30000) + "]\n"
    result = lockgate("validate", cwd=write_project(tmp_path / "p", spec))
    assert result.code == 2
    assert "lockgate.yaml:7:10: stages.a.gpu: must be a count of GPUs" in result.stderr
    assert len(result.stderr) < 300, result.stderr


def test_every_error_line_is_bounded_in_text_and_json(tmp_path) -> None:
    spec = HEAD.replace("    run: [x]\n", "    uses: lockgate/train\n") + (
        "    with:\n      entrypoint: m.py:b\n      data: {train: a}\n"
        "      ? " + "k" * 100_000 + "\n      : 1\n"  # an explicit key: any length
    )
    root = write_project(tmp_path / "p", spec)
    for args in (("validate",), ("validate", "--json")):
        result = lockgate(*args, cwd=root)
        assert result.code == 2
        out = result.stdout if "--json" in args else result.stderr
        text = json.loads(out)["error"] if "--json" in args else out
        assert all(len(line) <= MAX_LINE + 60 for line in text.splitlines()), len(text)
        assert "more characters)" in text


def test_clipped_keeps_short_lines_and_cuts_long_ones() -> None:
    assert clipped("a\nb") == "a\nb"
    cut = clipped("x" * 50, limit=10)
    assert cut == "x" * 10 + "... (40 more characters)"
