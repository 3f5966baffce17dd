"""The confusion-matrix chart: an SVG drawn without a plotting library, one cell per (true,
predicted) pair shaded by its share of its row, counts written while cells are big enough to
read, and nothing for an empty matrix."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lockgate.stages.evaluate.summary import plot_confusion

SVG = "{http://www.w3.org/2000/svg}"


def _cells(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def _darkness(colour: str) -> int:
    return -sum(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_every_cell_is_drawn_and_shaded_by_its_share_of_the_row(tmp_path: Path) -> None:
    confusion = [[50, 3, 0], [4, 40, 6], [0, 2, 61]]
    path = plot_confusion(confusion, tmp_path / "cm.svg")
    assert path == tmp_path / "cm.svg"
    root = ET.parse(path).getroot()
    cells = _cells(root)
    assert len(cells) == 9
    titles = [c.find(f"{SVG}title").text for c in cells]  # type: ignore[union-attr]
    assert titles[1] == "true 0, predicted 1: 3" and titles[8] == "true 2, predicted 2: 61"
    shades = {t: _darkness(c.attrib["fill"]) for t, c in zip(titles, cells, strict=True)}
    assert shades["true 0, predicted 0: 50"] > shades["true 0, predicted 1: 3"]
    assert shades["true 0, predicted 2: 0"] == _darkness("#f7fbff")  # none: white-ish
    counts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"50", "40", "61", "predicted", "true"} <= counts


def test_many_classes_keep_the_chart_small_and_drop_unreadable_counts(tmp_path: Path) -> None:
    k = 100
    confusion = [[5 if i == j else 1 for j in range(k)] for i in range(k)]
    root = ET.parse(plot_confusion(confusion, tmp_path / "cm.svg")).getroot()  # type: ignore[arg-type]
    assert len(_cells(root)) == k * k
    assert int(root.attrib["width"]) <= 560
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "5" not in texts  # no count in a cell a few pixels wide
    labels = [t for t in texts if t and t.isdigit()]
    assert 0 < len(labels) < 2 * k  # class labels thinned to stay legible


def test_an_empty_matrix_draws_nothing(tmp_path: Path) -> None:
    assert plot_confusion([], tmp_path / "cm.svg") is None
    assert not (tmp_path / "cm.svg").exists()
