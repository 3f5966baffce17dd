"""A result file's command says how the run was started, never where this machine keeps
things."""

from __future__ import annotations

from pathlib import Path

from benchmarks.result_file import RESULTS, command

SCRIPT = str(RESULTS.parent / "train" / "startup.py")


def test_absolute_paths_in_the_command_become_what_they_stand_for() -> None:
    argv = [SCRIPT, "--rows", "8192", "--baseline", "/srv/x/earlier", "--out=/tmp/o", "/data/f"]
    assert command(argv) == (
        "python -m benchmarks.train.startup --rows 8192 --baseline CHECKOUT --out=PATH PATH"
    )
    assert command([SCRIPT, "--baseline=/srv/x"]).endswith("--baseline=CHECKOUT")
    assert command([str(Path(SCRIPT).with_name("overhead.py")), "--rounds", "5"]) == (
        "python -m benchmarks.train.overhead --rounds 5"
    )


def test_a_baseline_is_named_by_its_commit_or_else_its_folder(tmp_path: Path) -> None:
    from benchmarks.result_file import revision

    repo = RESULTS.parents[1]
    if (repo / ".git").exists():
        short, _, subject = revision(repo).partition(" ")
        assert len(short) >= 7 and all(c in "0123456789abcdef" for c in short) and subject
    plain = tmp_path / "earlier-lockgate"
    plain.mkdir()
    assert revision(plain) == "earlier-lockgate"


def test_a_table_names_a_baseline_by_its_short_hash(tmp_path: Path) -> None:
    """Result files keep the commit's subject; tables show ``main-HASH`` (a subject is a
    sentence, too long for a column heading)."""
    from benchmarks.result_file import baseline_name, revision

    repo = RESULTS.parents[1]
    if (repo / ".git").exists():
        assert baseline_name(repo) == f"main-{revision(repo).split()[0]}"
        assert " " not in baseline_name(repo)
    plain = tmp_path / "earlier-lockgate"
    plain.mkdir()
    assert baseline_name(plain) == "earlier-lockgate"
