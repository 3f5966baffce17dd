"""The benchmark numbers in docs/, generated from the result files in benchmarks/results/.

A page marks each generated block::

    <!-- generated from benchmarks/results/NAME.json: python -m benchmarks.published -->
    ...
    <!-- end generated NAME -->

and everything between the markers is rewritten by the renderer listed for ``NAME`` in
``RENDERERS`` (a table, from the JSON alone). A figure quoted in the prose around the tables is
marked where it stands::

    took <!-- figure NAME.json KEY -->2.93 s<!-- end figure --> on the first audit

and the text between the two comments is the figure ``KEY`` of the dict that ``FIGURES[NAME]``
returns: named figures, formatted as the prose writes them and again from the JSON alone (ratios
and sums are computed there, not typed). A marker and its end stay on one line, and no line
begins with a marker: Markdown would take that line for a block of HTML and end the paragraph
there. A figure function lives in the module of the file's renderer.

``python -m benchmarks.published`` rewrites the pages; ``--check`` only reports the blocks and
figures that differ from their result files and exits 1, which is what the test suite runs, so a
number in docs/ cannot drift from its measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import (
    delivery_tables,
    engine_tables,
    ingest_tables,
    ledger_verify,
    summary,
    supply_tables,
    tables,
)
from benchmarks.data_check import table as data_check_table
from benchmarks.train import tables as train_tables

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BLOCK = re.compile(
    r"(<!-- generated from benchmarks/results/(?P<name>[\w.-]+)\.json:"
    r" python -m benchmarks\.published -->\n)(?P<body>.*?)(<!-- end generated (?P=name) -->)",
    re.DOTALL,
)
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "data-check": tables.data_check,
    "encryption": tables.encryption,
    "ingest-memory": tables.ingest_memory,
    "ingest-join-spill": ingest_tables.join_spill,
    "ingest": ingest_tables.postgres,
    "ingest-10m": ingest_tables.postgres,
    "ingest-cpu-split": ingest_tables.cpu_split,
    "data-check-command": tables.data_check_command,
    "data-check-stream": data_check_table.stream,
    "data-check-validators": tables.validators,
    "ledger-command": tables.ledger_command,
    "ledger-gate": tables.ledger_gate,
    "ledger-payload": tables.ledger_payload,
    "ledger-verify": ledger_verify.table,
    "ledger-verify-loaded": ledger_verify.table,
    "serving": tables.serving,
    "secret-scan": tables.secret_scan,
    "train-startup": tables.train_startup,
    "ui": tables.ui,
    # engine, generate, spec fuzz, executor choice
    "engine": engine_tables.engine,
    "executor-choice": engine_tables.executor_choice,
    "generate": engine_tables.generate,
    "spec_fuzz": engine_tables.spec_fuzz,
    # delivery, release path, ui-ab
    "delivery": delivery_tables.delivery,
    "release-path": delivery_tables.release_path,
    "ui-ab": delivery_tables.ui_ab,
    # supply, image job, ci no-op
    "supply": supply_tables.supply,
    "image_job": supply_tables.image_job,
    "ci_noop": supply_tables.ci_noop,
    # train overhead, gpu check
    "train-overhead": train_tables.train_overhead,
    "gpu_check-h200": train_tables.gpu_check,
}

# Figures quoted in prose: `<!-- figure NAME.json KEY -->VALUE<!-- end figure -->`, on one line.
FIGURE = re.compile(
    r"(<!-- figure (?P<name>[\w.-]+)\.json (?P<key>\w+) -->)(?P<value>.*?)(<!-- end figure -->)"
)
FIGURES: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "data-check": tables.data_check_figures,
    "data-check-stream": data_check_table.stream_figures,
    "data-check-validators": tables.validators_figures,
    "encryption": tables.encryption_figures,
    "ingest": ingest_tables.postgres_figures,
    "ingest-10m": ingest_tables.postgres_figures,
    "ingest-cpu-split": ingest_tables.cpu_split_figures,
    "ledger-command": tables.ledger_command_figures,
    "ledger-gate": tables.ledger_gate_figures,
    "ledger-verify": ledger_verify.figures,
    "train-startup": tables.train_startup_figures,
}

# The summary table of docs/benchmarks/README.md: rows from each result file, in this order.
SUMMARY_BLOCK = re.compile(
    r"(<!-- generated summary from benchmarks/results: python -m benchmarks\.published -->\n)"
    r"(?P<body>.*?)(<!-- end generated summary -->)",
    re.DOTALL,
)
SUMMARY_HEAD = "| goal | target | measured | script | details |\n|---|---|---|---|---|\n"
SUMMARY: list[tuple[str, Callable[[Any], list[summary.Row]]]] = [
    ("engine", engine_tables.summary_engine),
    ("executor-choice", engine_tables.summary_executor_choice),
    ("spec_fuzz", engine_tables.summary_spec_fuzz),
    ("generate", engine_tables.summary_generate),
    ("data-check-command", summary.data_check_command),
    ("data-check", summary.data_check),
    ("data-check-validators", summary.validators),
    ("data-check-stream", summary.data_check_stream),
    ("ingest", summary.ingest),
    ("ingest-10m", summary.ingest),
    ("ingest-memory", summary.ingest_memory),
    ("encryption", summary.encryption),
    ("supply", supply_tables.summary_supply),
    ("secret-scan", supply_tables.summary_secret_scan),
    ("image_job", supply_tables.summary_image_job),
    ("ci_noop", supply_tables.summary_ci_noop),
    ("serving", summary.serving),
    ("train-overhead", train_tables.summary_train_overhead),
    ("train-startup", summary.train_startup),
    ("gpu_check-h200", train_tables.summary_gpu_check),
    ("ledger-command", summary.ledger_command),
    ("ledger-gate", summary.ledger_gate),
    ("ui", summary.ui),
    ("ui-ab", delivery_tables.summary_ui_ab),
    ("delivery", delivery_tables.summary_delivery),
    ("release-path", delivery_tables.summary_release_path),
]


def render_summary(results: Path = RESULTS) -> str:
    rows = []
    for name, rows_of in SUMMARY:
        document = json.loads((results / f"{name}.json").read_text())
        rows += ["| " + " | ".join(row) + " |" for row in rows_of(document)]
    return SUMMARY_HEAD + "\n".join(rows) + "\n"


def summary_missing(results: Path = RESULTS) -> str:
    """Why the summary cannot be generated (the result files it lacks), or ''."""
    absent = [name for name, _ in SUMMARY if not (results / f"{name}.json").is_file()]
    return f"no result file for {', '.join(absent)} in benchmarks/results/" if absent else ""


def render(name: str, results: Path = RESULTS) -> str:
    document = json.loads((results / f"{name}.json").read_text())
    return RENDERERS[name](document).rstrip("\n") + "\n"


def pages(docs: Path) -> Iterator[Path]:
    yield from sorted(docs.rglob("*.md"))
    readme = docs.parent / "README.md"
    if readme.exists():
        yield readme


def missing(name: str, results: Path = RESULTS) -> str:
    """Why block ``name`` cannot be generated, or ''."""
    if name not in RENDERERS:
        return f"no renderer for {name!r} in benchmarks/published.py"
    if not (results / f"{name}.json").is_file():
        return f"no result file benchmarks/results/{name}.json (run its benchmark)"
    return ""


def figures(name: str, results: Path = RESULTS) -> dict[str, str]:
    """The named figures of result file ``name``, as the prose quotes them."""
    return FIGURES[name](json.loads((results / f"{name}.json").read_text()))


def figure_missing(name: str, key: str, results: Path = RESULTS) -> str:
    """Why figure ``key`` of result file ``name`` cannot be generated, or ''."""
    if name not in FIGURES:
        return f"no figures for {name!r} in benchmarks/published.py"
    if not (results / f"{name}.json").is_file():
        return f"no result file benchmarks/results/{name}.json (run its benchmark)"
    known = figures(name, results)
    if key not in known:
        return f"{name}.json has no figure {key!r}; it has: {', '.join(sorted(known))}"
    return ""


def regenerate(text: str, results: Path = RESULTS) -> str:
    """``text`` with every block and figure that can be generated rewritten; the others left as
    they are."""

    def fill(match: re.Match[str]) -> str:
        if missing(match.group("name"), results):
            return match.group(0)
        return match.group(1) + render(match.group("name"), results) + match.group(4)

    def fill_summary(match: re.Match[str]) -> str:
        if summary_missing(results):
            return match.group(0)
        return match.group(1) + render_summary(results) + match.group(3)

    def fill_figure(match: re.Match[str]) -> str:
        name, key = match.group("name", "key")
        if figure_missing(name, key, results):
            return match.group(0)
        return match.group(1) + figures(name, results)[key] + match.group(5)

    text = SUMMARY_BLOCK.sub(fill_summary, BLOCK.sub(fill, text))
    return FIGURE.sub(fill_figure, text)


def misplaced_figures(text: str) -> list[str]:
    """``line N: why`` for every figure marker that would not be generated or would break the
    page: one without its end on the same line, or one that begins a line."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.count("<!-- figure ") != len(FIGURE.findall(line)):
            found.append(f"line {number}: a figure marker without its end on the same line")
        if line.lstrip().startswith("<!-- figure "):
            found.append(f"line {number}: a figure marker begins the line (read as HTML)")
    return found


def stale(docs: Path = REPO / "docs", results: Path = RESULTS) -> list[str]:
    """``page: NAME`` for every generated block whose text differs from its result file,
    ``page: figure NAME.json KEY`` for every such figure; with the reason where one of them
    cannot be generated (no renderer, no result file, no such figure)."""
    found = []
    for page in pages(docs):
        text = page.read_text()
        for match in BLOCK.finditer(text):
            name, where = match.group("name"), page.relative_to(docs.parent)
            why = missing(name, results)
            if why:
                found.append(f"{where}: {name}: {why}")
            elif match.group("body") != render(name, results):
                found.append(f"{where}: {name}")
        for match in SUMMARY_BLOCK.finditer(text):
            where, why = page.relative_to(docs.parent), summary_missing(results)
            if why:
                found.append(f"{where}: summary: {why}")
            elif match.group("body") != render_summary(results):
                found.append(f"{where}: summary")
        found += [f"{page.relative_to(docs.parent)}: {why}" for why in misplaced_figures(text)]
        for match in FIGURE.finditer(text):
            name, key = match.group("name", "key")
            where, why = page.relative_to(docs.parent), figure_missing(name, key, results)
            if why:
                found.append(f"{where}: figure {name}.json {key}: {why}")
            elif match.group("value") != figures(name, results)[key]:
                found.append(f"{where}: figure {name}.json {key}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="report stale blocks and figures, write nothing"
    )
    args = parser.parse_args(argv)
    docs = REPO / "docs"
    if args.check:
        found = stale(docs)
        for line in found:
            print(f"stale: {line} (run python -m benchmarks.published)", file=sys.stderr)
        return 1 if found else 0
    for page in pages(docs):
        text = page.read_text()
        new = regenerate(text)
        if new != text:
            tmp = page.with_name(f".{page.name}.tmp")
            tmp.write_text(new)
            os.replace(tmp, page)
            print(f"updated {page.relative_to(REPO)}")
    for line in stale(docs):
        print(f"not generated: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
