"""The charts the built-in stages draw (lockgate/stages/svg.py): no plotting library is imported
to draw any of them, text is escaped, and ticks cover the values they label."""

from __future__ import annotations

import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from lockgate.stages import svg

REPO = Path(__file__).resolve().parents[2]


def test_drawing_every_chart_imports_no_plotting_library(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from lockgate.stages.data_check.report import _plot
from lockgate.stages.evaluate.summary import plot_confusion
from lockgate.stages.train.curves import plot_history
from tests.stages.data_check.test_drift_chart import DRIFT
out = Path({str(tmp_path)!r})
plot_history([{{"epoch": 1, "train_loss": 1.0}}, {{"epoch": 2, "train_loss": 0.5}}], out / "c.svg")
plot_confusion([[3, 1], [0, 4]], out / "m.svg")
_plot(DRIFT, out / "d.svg")
print(sorted(m for m in sys.modules if m.split(".")[0] in {{"matplotlib", "PIL"}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "[]"
    for name in ("c.svg", "m.svg", "d.svg"):
        assert ET.parse(tmp_path / name).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_text_is_escaped_and_holds_no_markup() -> None:
    chart = svg.document(100, 50, [svg.text(1, 2, '<script>alert("x")</script> & more')])
    root = ET.fromstring(chart)
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    (label,) = root.iter("{http://www.w3.org/2000/svg}text")
    assert label.text == '<script>alert("x")</script> & more'


def test_ticks_cover_the_range_in_round_steps() -> None:
    for lo, hi in ((0.0, 0.93), (0.137, 1.047), (-3.2, 7.9), (5.0, 5.0), (1e-6, 3e-6)):
        marks = svg.ticks(lo, hi)
        assert marks[0] <= lo and marks[-1] >= hi, (lo, hi, marks)
        assert 2 <= len(marks) <= 8
        steps = {round(b - a, 9) for a, b in itertools.pairwise(marks)}
        assert len(steps) == 1  # evenly spaced
    assert svg.ticks(1, 20, integer=True) == [0, 5, 10, 15, 20]
    assert svg.ticks(1, 2, integer=True) == [1, 2]
