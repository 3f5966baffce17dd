"""The benchmark numbers in docs/ are the ones in benchmarks/results/: generated, never typed.

Runs the real generator over the repository's docs and result files, and over a small copy whose
result file is changed, to show that a drifted number is caught and regenerated.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks import published

REPO = Path(__file__).resolve().parents[2]


def test_every_generated_block_matches_its_result_file() -> None:
    assert published.stale() == []


def test_every_result_file_with_a_renderer_is_published_somewhere() -> None:
    text = "".join(page.read_text() for page in published.pages(REPO / "docs"))
    named = set(published.BLOCK.findall(text))
    shown = {match.group("name") for match in published.BLOCK.finditer(text)}
    assert named, "no generated block in docs/"
    assert set(published.RENDERERS) == shown


def _copy(tmp_path: Path, *names: str) -> tuple[Path, Path]:
    """An empty docs folder and a results folder holding copies of the result files ``names``."""
    docs, results = tmp_path / "docs", tmp_path / "results"
    docs.mkdir()
    results.mkdir()
    for name in names:
        shutil.copy(published.RESULTS / name, results)
    return docs, results


def test_a_changed_measurement_makes_the_page_stale_until_regenerated(tmp_path: Path) -> None:
    docs, results = _copy(tmp_path, "ledger-command.json")
    page = docs / "page.md"
    marker = "<!-- generated from benchmarks/results/ledger-command.json: python -m benchmarks.published -->"
    page.write_text(f"# Ledger\n\n{marker}\nold text\n<!-- end generated ledger-command -->\n")
    assert published.stale(docs, results) == ["docs/page.md: ledger-command"]
    page.write_text(published.regenerate(page.read_text(), results))
    assert published.stale(docs, results) == []
    document = json.loads((results / "ledger-command.json").read_text())
    document["command_s"]["audit_verify"]["median"] += 1.0
    (results / "ledger-command.json").write_text(json.dumps(document))
    assert published.stale(docs, results) == ["docs/page.md: ledger-command"]
    assert "old text" not in page.read_text()


def test_every_result_file_has_a_renderer() -> None:
    """A result file without a renderer would be quoted in docs/ by hand, and could drift."""
    files = {path.stem for path in published.RESULTS.glob("*.json")}
    assert files - set(published.RENDERERS) == set()


def test_the_summary_table_is_generated_and_follows_its_files(tmp_path: Path) -> None:
    """The summary of docs/benchmarks/README.md has one block built from every file it names; a
    changed measurement makes it stale, and regenerating puts the new number in."""
    readme = (REPO / "docs" / "benchmarks" / "README.md").read_text()
    assert len(published.SUMMARY_BLOCK.findall(readme)) == 1
    results = tmp_path / "results"
    shutil.copytree(published.RESULTS, results)
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "README.md"
    page.write_text(published.regenerate(readme, results))
    assert [s for s in published.stale(docs, results) if "summary" in s] == []
    document = json.loads((results / "ledger-command.json").read_text())
    document["command_s"]["audit_verify_signed_full"]["median"] = 0.5
    (results / "ledger-command.json").write_text(json.dumps(document))
    assert "docs/README.md: summary" in published.stale(docs, results)
    page.write_text(published.regenerate(page.read_text(), results))
    assert "a first signed audit **0.50 s** (met" in page.read_text()
    (results / "ui.json").unlink()
    assert any("summary: no result file for ui" in s for s in published.stale(docs, results))


def _figure(name: str, key: str, value: str) -> str:
    return f"<!-- figure {name}.json {key} -->{value}<!-- end figure -->"


def test_a_drifted_figure_in_prose_makes_the_page_stale_until_regenerated(tmp_path: Path) -> None:
    docs, results = _copy(tmp_path, "ledger-command.json")
    page = docs / "page.md"
    first = _figure("ledger-command", "audit_verify_signed_full", "9.99 s")
    page.write_text(f"# Ledger\n\nThe first audit took {first} on the\nfaster CPU.\n")
    assert published.stale(docs, results) == [
        "docs/page.md: figure ledger-command.json audit_verify_signed_full"
    ]
    page.write_text(published.regenerate(page.read_text(), results))
    assert published.stale(docs, results) == []
    median = json.loads((results / "ledger-command.json").read_text())["command_s"][
        "audit_verify_signed_full"
    ]["median"]
    now = _figure("ledger-command", "audit_verify_signed_full", f"{median:.2f} s")
    assert f"The first audit took {now} on the\nfaster CPU." in page.read_text()
    document = json.loads((results / "ledger-command.json").read_text())
    document["command_s"]["audit_verify_signed_full"]["median"] = 1.5
    (results / "ledger-command.json").write_text(json.dumps(document))
    assert published.stale(docs, results) == [
        "docs/page.md: figure ledger-command.json audit_verify_signed_full"
    ]
    page.write_text(published.regenerate(page.read_text(), results))
    assert "-->1.50 s<!--" in page.read_text()
    assert published.stale(docs, results) == []


def test_a_derived_figure_is_computed_from_the_file(tmp_path: Path) -> None:
    """ "5.15x at most" in docs/ingest.md is pandas' time over lockgate's CPU floor: a change of
    lockgate's CPU in the file changes it."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(published.RESULTS / "ingest.json", results)
    assert published.figures("ingest", results)["pandas_read_sql_ratio_at_most"] == "5.15x"
    document = json.loads((results / "ingest.json").read_text())
    document["median_cpu_seconds"]["lockgate"]["client"] += 0.5
    (results / "ingest.json").write_text(json.dumps(document))
    assert published.figures("ingest", results)["pandas_read_sql_ratio_at_most"] == "4.33x"


def test_an_unknown_figure_is_an_error_naming_page_and_figure(tmp_path: Path) -> None:
    docs, results = _copy(tmp_path, "ledger-command.json", "ui.json")
    text = (
        f"A {_figure('ledger-command', 'no_such_figure', '1 s')} figure, one of a file with no"
        f" figures, {_figure('ui', 'median', '40 ms')}, and one of no file,"
        f" {_figure('ledger-gate', 'promote', '1.18 s')}.\n"
    )
    (docs / "page.md").write_text(text)
    found = published.stale(docs, results)
    assert len(found) == 3
    assert found[0].startswith(
        "docs/page.md: figure ledger-command.json no_such_figure: ledger-command.json has no"
        " figure 'no_such_figure'; it has: "
    )
    assert "audit_verify_signed_full" in found[0]
    assert found[1] == (
        "docs/page.md: figure ui.json median: no figures for 'ui' in benchmarks/published.py"
    )
    assert found[2] == (
        "docs/page.md: figure ledger-gate.json promote: no result file"
        " benchmarks/results/ledger-gate.json (run its benchmark)"
    )
    assert published.regenerate(text, results) == text


def test_a_figure_marker_stays_within_a_line_and_never_begins_one(tmp_path: Path) -> None:
    """Markdown reads a line that begins with ``<!--`` as HTML, ending the paragraph there; and a
    marker whose end is on another line would never be generated."""
    docs = tmp_path / "docs"
    docs.mkdir()
    value = published.figures("ledger-command")["audit_verify"]  # the committed result's
    figure = _figure("ledger-command", "audit_verify", value)
    (docs / "page.md").write_text(
        f"The repeat audit took\n{figure}.\n\nBroken: <!-- figure ledger-command.json audit_verify"
        f" -->{value}\n<!-- end figure -->.\n"
    )
    assert published.stale(docs) == [
        "docs/page.md: line 2: a figure marker begins the line (read as HTML)",
        "docs/page.md: line 4: a figure marker without its end on the same line",
    ]


def test_every_figure_marker_in_docs_names_a_figure_its_renderer_gives() -> None:
    marked = [
        (page, match.group("name"), match.group("key"))
        for page in published.pages(REPO / "docs")
        for match in published.FIGURE.finditer(page.read_text())
    ]
    assert marked, "no figure marker in docs/"
    for page, name, key in marked:
        assert name in published.FIGURES, f"{page}: no figures for {name}"
        assert key in published.figures(name), f"{page}: {name}.json has no figure {key!r}"
    assert set(published.FIGURES) <= set(published.RENDERERS)
    assert {name for _, name, _ in marked} == set(published.FIGURES), "a figure function unused"
