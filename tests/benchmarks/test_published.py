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


def test_a_changed_measurement_makes_the_page_stale_until_regenerated(tmp_path: Path) -> None:
    docs, results = tmp_path / "docs", tmp_path / "results"
    docs.mkdir()
    results.mkdir()
    shutil.copy(published.RESULTS / "ledger-command.json", results)
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
