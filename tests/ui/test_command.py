"""``lockgate ui`` as a user starts it: a real process on loopback, serving a real ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.ui.ledgerkit import write_ledger


def test_lockgate_ui_serves_the_ledger_on_loopback(tmp_path: Path) -> None:
    write_ledger(tmp_path / "ledger")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockgate",
            "ui",
            "--ledger",
            str(tmp_path / "ledger"),
            "--port",
            "0",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["read_only"] is True and started["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(started["url"], timeout=10) as answer:
            page = answer.read().decode()
        assert 'data-env="production"' in page and "intact: 8 entries" in page
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
