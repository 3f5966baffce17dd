"""The benchmark numbers in docs/, generated from the result files in benchmarks/results/.

A page marks each generated block::

    <!-- generated from benchmarks/results/NAME.json: python -m benchmarks.published -->
    ...
    <!-- end generated NAME -->

and everything between the markers is rewritten by the renderer listed for ``NAME`` in
``RENDERERS`` (a table, from the JSON alone). ``python -m benchmarks.published`` rewrites the
pages; ``--check`` only reports the blocks that differ from their result files and exits 1, which
is what the test suite runs, so a number in docs/ cannot drift from its measurement.
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


def regenerate(text: str, results: Path = RESULTS) -> str:
    """``text`` with every block that can be generated rewritten; the others left as they are."""

    def fill(match: re.Match[str]) -> str:
        if missing(match.group("name"), results):
            return match.group(0)
        return match.group(1) + render(match.group("name"), results) + match.group(4)

    def fill_summary(match: re.Match[str]) -> str:
        if summary_missing(results):
            return match.group(0)
        return match.group(1) + render_summary(results) + match.group(3)

    return SUMMARY_BLOCK.sub(fill_summary, BLOCK.sub(fill, text))


def stale(docs: Path = REPO / "docs", results: Path = RESULTS) -> list[str]:
    """``page: NAME`` for every generated block whose text differs from its result file."""
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
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale blocks, write nothing")
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
