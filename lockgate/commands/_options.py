"""Options several commands share, defined once so they read and behave alike everywhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        metavar="PATH",
        help="the spec (default: lockgate.yaml here or in a parent folder)",
    )


def add_signing_key_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--signing-key``: the ledger's Ed25519 private key, which signs ``what``."""
    import os

    parser.add_argument(
        "--signing-key",
        type=Path,
        default=os.environ.get("LOCKGATE_SIGNING_KEY") or None,
        metavar="PEM",
        help=f"Ed25519 private key that signs {what} (default: $LOCKGATE_SIGNING_KEY)",
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


def older_than_seconds(text: str) -> float:
    """``--older-than``'s duration in seconds, or one error naming the option."""
    from lockgate.spec.durations import parse_duration

    try:
        return float(parse_duration(text))
    except ValueError as error:
        raise LockgateError(f"--older-than: {error}") from None
