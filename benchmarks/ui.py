"""Release page render time on a 10,000-entry ledger (target: <= 200 ms per page).

    python benchmarks/ui.py [--entries 10000] [--requests 21]

Serves the page with ``lockgate ui``'s server on loopback and times whole GET requests of the
overview (ledger read, chain audit, HTML) from the client side, a new ledger entry appended before
every round so each page has something new to read and audit, alternating the page with and
without the per-request audit so machine load affects both alike. Writes
benchmarks/results/ui.json (every request's time, machine, versions) through
``benchmarks.result_file`` and prints the same document on stdout, which is what
``benchmarks/ui_ab.py`` reads when it runs this script on two checkouts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import result_file
from benchmarks.ledger import build
from lockgate.delivery.ledger.audit import IncrementalAudit
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.ui.server import ReleasePage, serve
from tests.ui.ledgerkit import write_rollout


def start(page: ReleasePage) -> tuple[str, object]:
    server = serve(page, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def timed_get(url: str) -> tuple[float, int]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        body = answer.read()
    return (time.perf_counter() - began) * 1000, len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=21)
    args = parser.parse_args()
    before = result_file.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ledger"
        build(folder, args.entries)
        write_rollout(Path(tmp) / "state")
        ledger = FileLedger(folder)
        state = Path(tmp) / "state"
        pages = {
            "with_audit": ReleasePage(folder, state, IncrementalAudit(folder)),
            "without_audit": ReleasePage(ledger.folder, state, None),
        }
        # `lockgate ui` reads and audits the whole ledger once before it announces its URL
        # (warm); the first request then reads only what was appended since
        warm: dict[str, float] = {}
        for name, page in pages.items():
            began = time.perf_counter()
            page.warm()
            warm[name] = round((time.perf_counter() - began) * 1000, 1)
        urls = {name: start(page)[0] for name, page in pages.items()}
        cold = {name: round(timed_get(url)[0], 1) for name, url in urls.items()}
        times: dict[str, list[float]] = {name: [] for name in urls}
        size = 0
        for i in range(args.requests):
            ledger.append(Draft("healthy", "monitor", "github", "staging", f"sha256:{i:064x}"))
            for name, url in urls.items():
                ms, size = timed_get(url)
                times[name].append(ms)
    payload = {
        "what": "ui overview page, whole GET from loopback",
        "entries": args.entries,
        "requests": args.requests,
        "page_bytes": size,
        "target_ms": 200,
        "start_warm_ms": warm,
        "first_request_ms": cold,
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "load_average_before": before,
        "load_average_after": result_file.load(),
        **{
            name: {
                "median_ms": round(statistics.median(v), 1),
                "p95_ms": round(sorted(v)[int(0.95 * (len(v) - 1))], 1),
                "max_ms": round(max(v), 1),
                "raw_ms": [round(ms, 1) for ms in v],
            }
            for name, v in times.items()
        },
    }
    out = result_file.write("ui", payload)
    print(out.read_text(), end="")
    print(out, file=sys.stderr)


if __name__ == "__main__":
    main()
