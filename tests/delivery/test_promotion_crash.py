"""Kill a promoting/rolling-back process with SIGKILL at random moments, many times: the ledger
always passes audit (a pending append is completed or cut off by the next writer), and a final
promotion converges: the deployed release and the ledger agree, with no begin left open."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.releases import current, open_begin
from tests.delivery.gatekit import image
from tests.projects import REPO_ROOT

TRIALS = 30


def test_sigkill_during_promote_and_rollback_leaves_a_valid_ledger(tmp_path: Path) -> None:
    rng = random.Random(20261120)
    folder = tmp_path / ".lockgate" / "ledger"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "tests.delivery.crash_driver", str(tmp_path)]
    pending = 0  # kills that landed inside an append (noted, completed by the next run)
    # one process per trial, forked by a server that has done the imports once
    server = subprocess.Popen(
        [*cmd, "serve"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        for _ in range(TRIALS):
            server.stdin.write("go\n")
            server.stdin.flush()
            ready, pid = server.stdout.readline().split()
            assert ready == "ready"  # counted from here, however loaded the host
            try:
                time.sleep(rng.uniform(0.0, 0.6))
            finally:  # killed even when the test is interrupted here
                os.kill(int(pid), signal.SIGKILL)
            assert server.stdout.readline() == "reaped\n"
            report = audit_ledger(folder)
            assert report.ok, report.problems
            pending += bool(report.notes)
    finally:
        server.stdin.close()
        server.wait(timeout=60)
        server.stdout.close()
    final = subprocess.run(
        [*cmd, "4"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert final.returncode == 0, final.stdout + final.stderr
    ledger = FileLedger(folder)
    entries = ledger.entries()
    assert len(entries) > TRIALS  # the processes got real work done between kills
    assert audit_ledger(folder).ok
    assert open_begin(entries, "staging") is None
    assert any(e.action == "abort" and "interrupted" in (e.reason or "") for e in entries)
    assert current(entries, "staging").digest == image(4).partition("@")[2]
    assert (tmp_path / ".lockgate" / "releases" / "staging.json").read_text().count(image(4)) == 1
