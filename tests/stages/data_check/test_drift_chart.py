"""Drift histograms: an SVG per drifting or stable column beside report.md, two bars per bin
(the reference's and the current data's share of rows), drawn without a plotting library."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lockgate.stages.data_check.outcome import ColumnDrift
from lockgate.stages.data_check.report import _plot

SVG = "{http://www.w3.org/2000/svg}"
DRIFT = ColumnDrift(
    column="income <usd>",
    kind="numeric",
    metrics={"psi": 0.4},
    thresholds={"psi": 0.2},
    reference_hist=(10, 40, 80, 60, 10),
    current_hist=(0, 10, 40, 100, 50),
    bin_labels=("<=1", "<=2", "<=3", "<=4", "<=5"),
)


def _bars(root: ET.Element, colour: str) -> list[float]:
    return [
        float(r.attrib["height"])
        for r in root.findall(f"{SVG}rect")
        if r.attrib.get("fill") == colour and r.find(f"{SVG}title") is not None
    ]


def test_two_bars_per_bin_sized_by_share_of_rows(tmp_path: Path) -> None:
    _plot(DRIFT, tmp_path / "d.svg")
    root = ET.parse(tmp_path / "d.svg").getroot()
    reference, current = _bars(root, "#1f77b4"), _bars(root, "#ff7f0e")
    assert len(reference) == len(current) == 5
    assert reference.index(max(reference)) == 2 and current.index(max(current)) == 3
    assert current[0] == 0  # an empty bin has no height
    # the same share gives the same height on both sides: 40/200 (reference) and 40/200 (current)
    assert abs(reference[1] - current[2]) < 0.2
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "income <usd> (drifted)" in texts  # escaped in the file, read back whole
    assert {"<=1", "<=5", "reference", "current", "share of rows"} <= set(texts)


def test_the_report_links_each_chart(tmp_path: Path) -> None:
    from lockgate.stages.data_check.outcome import DataCheckOutcome
    from lockgate.stages.data_check.report import write_outputs

    outcome = DataCheckOutcome(
        data="d.parquet", files=("d.parquet",), rows=200, checks=(), drift=(DRIFT,)
    )
    write_outputs(tmp_path, outcome, histograms=True)
    charts = sorted(p.name for p in tmp_path.glob("drift-*"))
    assert charts == ["drift-00-income__usd_.svg"]
    assert "![income <usd>](drift-00-income__usd_.svg)" in (tmp_path / "report.md").read_text()
