"""Options several commands share, defined once so they read and behave alike everywhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        metavar="PATH",
        help="the spec (default: lockgate.yaml here or in a parent folder)",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout; errors become a JSON object too",
    )


def add_ledger_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=Path,
        metavar="DIR",
        help="read this ledger folder (e.g. an offline copy) instead of the project's",
    )


def add_delivery_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delivery",
        type=Path,
        default=None,
        metavar="PATH",
        help="an older delivery.yaml to read rollout settings from (default: each environment's "
        "`rollout:` in lockgate.yaml, or a delivery.yaml beside it)",
    )


def print_json(document: Any) -> None:
    """The one JSON document a ``--json`` command prints on stdout."""
    print(json.dumps(document, indent=2, sort_keys=True, default=str))
