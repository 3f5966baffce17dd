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

from benchmarks import ingest_tables, ledger_verify, tables
from benchmarks.data_check import table as data_check_table

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
    "serving": tables.serving,
    "secret-scan": tables.secret_scan,
    "train-startup": tables.train_startup,
    "ui": tables.ui,
    # engine, generate, spec fuzz, executor choice
    # delivery, release path, ui-ab
    # supply, image job, ci no-op
    # train overhead, gpu check
}


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

    return BLOCK.sub(fill, text)


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
