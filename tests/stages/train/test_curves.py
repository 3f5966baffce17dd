"""The training-curve chart: an SVG drawn without a plotting library, one line per series with
every epoch a point, broken where a value is missing, a second panel only for accuracy, and
tick labels that cover the data."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from lockgate.stages.train.curves import plot_history

SVG = "{http://www.w3.org/2000/svg}"


def _chart(tmp_path: Path, history: list[dict[str, float]]) -> ET.Element:
    path = plot_history(history, tmp_path / "c.svg")
    assert path == tmp_path / "c.svg"
    return ET.parse(path).getroot()


def _points(line: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]  # type: ignore[misc]


def test_one_line_per_series_with_a_point_per_epoch(tmp_path: Path) -> None:
    history = [
        {"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.5 / e, "val_accuracy": 0.5 + e / 40}
        for e in range(1, 11)
    ]
    root = _chart(tmp_path, history)
    lines = root.findall(f"{SVG}polyline")
    assert [line.attrib["stroke"] for line in lines] == ["#1f77b4", "#ff7f0e", "#2ca02c"]
    assert all(len(_points(line)) == 10 for line in lines)
    train = _points(lines[0])
    assert [x for x, _ in train] == sorted(x for x, _ in train)  # epochs left to right
    assert [y for _, y in train] == sorted(y for _, y in train)  # falling loss: y grows down
    plot_top = float(root.findall(f"{SVG}rect")[1].attrib["y"])  # [0] is the background
    legend = [t for t in root.iter(f"{SVG}text") if t.text in {"train_loss", "val_loss"}]
    assert len(legend) == 2 and all(float(t.attrib["y"]) < plot_top for t in legend)  # above
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"train_loss", "val_loss", "val_accuracy", "loss", "accuracy"} <= set(texts)
    assert texts.count("epoch") == 2  # two panels
    assert int(root.attrib["width"]) == 2 * int(
        _chart(
            tmp_path, [{k: v for k, v in r.items() if k != "val_accuracy"} for r in history]
        ).attrib["width"]
    )


def test_tick_labels_cover_the_data(tmp_path: Path) -> None:
    history = [{"epoch": e, "train_loss": 0.137 + 0.91 / e} for e in range(1, 8)]
    root = _chart(tmp_path, history)
    labels = []
    for t in root.iter(f"{SVG}text"):
        try:
            labels.append((float(t.attrib["x"]), float(t.text or "")))
        except ValueError:
            continue
    left_x = min(x for x, _ in labels)
    y_ticks = sorted(v for x, v in labels if x == left_x)
    losses = [r["train_loss"] for r in history]
    assert y_ticks[0] <= min(losses) and y_ticks[-1] >= max(losses)
    assert 3 <= len(y_ticks) <= 8


def test_a_missing_value_breaks_the_line_and_a_lone_value_is_a_dot(tmp_path: Path) -> None:
    history = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": 1.1},
        {"epoch": 2, "train_loss": 0.8, "val_loss": math.nan},
        {"epoch": 3, "train_loss": 0.6, "val_loss": 0.9},
        {"epoch": 4, "train_loss": 0.5, "val_loss": 0.8},
    ]
    root = _chart(tmp_path, history)
    val = [p for p in root.findall(f"{SVG}polyline") if p.attrib["stroke"] == "#ff7f0e"]
    assert [len(_points(p)) for p in val] == [2]  # epochs 3-4; epoch 1 stands alone
    dots = root.findall(f"{SVG}circle")
    assert [d.attrib["fill"] for d in dots] == ["#ff7f0e"]
    one = _chart(tmp_path, [{"epoch": 1, "train_loss": 0.7}])
    assert len(one.findall(f"{SVG}circle")) == 1 and not one.findall(f"{SVG}polyline")


def test_no_history_no_chart(tmp_path: Path) -> None:
    assert plot_history([], tmp_path / "c.svg") is None
    assert not (tmp_path / "c.svg").exists()
