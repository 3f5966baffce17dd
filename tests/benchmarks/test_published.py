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
