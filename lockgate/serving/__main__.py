"""``python3 -m lockgate.serving --model DIR``: load the bundle, serve, drain on SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from lockgate.serving.manifest import ModelLoadError
from lockgate.serving.metrics import ServingMetrics
from lockgate.serving.model import load_predictor
from lockgate.serving.server import ScoringServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate-serving")
    parser.add_argument("--model", type=Path, default=Path("/opt/model"))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--grace", type=float, default=25.0, help="seconds to finish in-flight requests"
    )
    args = parser.parse_args(argv)
    try:
        predictor = load_predictor(args.model)
    except ModelLoadError as exc:
        print(f"lockgate-serving: error: {exc}", file=sys.stderr)
        return 2
    server = ScoringServer((args.host, args.port), predictor, ServingMetrics())
    drained: list[bool] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        # drain() blocks until serve_forever returns, so it runs beside the serving thread
        if not server.draining.is_set():
            threading.Thread(target=lambda: drained.append(server.drain(args.grace))).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    m = predictor.manifest
    print(
        f"lockgate-serving: {m.name} {m.version} ({m.flavor}) on {args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever(poll_interval=0.2)
    while not drained:
        server.draining.wait(0.05)
        threading.Event().wait(0.05)
    server.server_close()
    print(
        "lockgate-serving: stopped" + ("" if drained[0] else " (grace ended with requests open)"),
        file=sys.stderr,
        flush=True,
    )
    return 0 if drained[0] else 1


if __name__ == "__main__":
    sys.exit(main())
