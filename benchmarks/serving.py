"""Scoring-server throughput and latency on loopback: lockgate's server against FastAPI +
uvicorn (what MLflow's scoring server runs), serving the same model bundle through the same
loader, one server process at a time, under the same bounded load.

    python -m benchmarks.serving [--requests 3000] [--repeat 3]

For each model (a pure-Python rule, a tiny torch MLP) and client concurrency (8, 1), the two
servers run in alternating rounds (``--repeat``), each round a fresh server process, a warm-up,
then ``requests`` requests from ``concurrency`` keep-alive connections, each request's latency
recorded. The FastAPI endpoint is a plain ``def`` (FastAPI runs it in its thread pool, as it
would any blocking model code); uvicorn's event loop and HTTP parser are chosen explicitly
(uvloop / httptools when installed, else asyncio / h11) and recorded. Medians of the rounds go
to benchmarks/results/serving.json with every round's numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UVICORN_APP = """
import sys
from pathlib import Path
from typing import Any
from fastapi import Body, FastAPI
import uvicorn
from lockgate.serving.model import load_predictor, validate_rows
predictor = load_predictor(Path(sys.argv[1]))
app = FastAPI()
@app.get("/ping")
def ping():
    return {"status": "ok"}
@app.post("/invocations")
def invocations(payload: dict[str, Any] = Body(...)):
    rows = validate_rows(payload.get("inputs"), predictor.manifest.n_features)
    return {"predictions": predictor.predict(rows)}
uvicorn.run(
    app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False,
    loop=sys.argv[3], http=sys.argv[4],
)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not answer /ping")


def load(port: int, body: bytes, total: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [total]
    errors = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors[0] += response.status != 200
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors[0]:
        raise SystemExit(f"{errors[0]} requests failed")
    return wall, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bundle(kind: str, folder: Path) -> tuple[Path, bytes]:
    if kind == "python":
        from tests.serving.bundles import python_bundle

        return python_bundle(folder / "bundle"), json.dumps({"inputs": [[0.4, 0.9]]}).encode()
    from lockgate.serving.manifest import ServingManifest
    from tests.serving.bundles import torch_train_output

    model = torch_train_output(folder / "out", folder / "ws")
    (model / "code").mkdir()
    (model / "code" / "tiny_net.py").write_text((folder / "ws" / "tiny_net.py").read_text())
    ServingManifest(
        flavor="torch-state-dict",
        entrypoint="tiny_net:build",
        weights="state_dict.pt",
        name="tiny",
        version="1",
        n_features=2,
        n_classes=3,
        params={"hidden": 8},
    ).write(model)
    return model, json.dumps({"inputs": [[0.4, -0.9]]}).encode()


def run_server(name: str, model: Path, body: bytes, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if name == "lockgate":
        cmd = [
            sys.executable,
            "-m",
            "lockgate.serving",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        cmd = [sys.executable, "-c", UVICORN_APP, str(model), str(port), *uvicorn_choices()]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        load(port, body, args.warmup, args.concurrency)
        wall, latencies = load(port, body, args.requests, args.concurrency)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def uvicorn_choices() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn's ``auto`` would pick here, named explicitly."""
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return loop, http


def main() -> None:
    from benchmarks import result_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds per case")
    args = parser.parse_args()
    load_before = result_file.load()
    cases = []
    for kind in ("python", "torch"):
        with tempfile.TemporaryDirectory() as tmp:
            model, body = bundle(kind, Path(tmp))
            for concurrency in (8, 1):
                args.concurrency = concurrency
                rounds: dict[str, list[dict[str, float]]] = {"lockgate": [], "fastapi": []}
                for _ in range(args.repeat):
                    rounds["lockgate"].append(run_server("lockgate", model, body, args))
                    rounds["fastapi"].append(run_server("uvicorn", model, body, args))
                case: dict[str, object] = {"model": kind, "concurrency": concurrency}
                for name, runs in rounds.items():
                    case[name] = {
                        **{k: result_file.median([r[k] for r in runs]) for k in runs[0]},
                        "raw": runs,
                    }
                print(json.dumps(case), flush=True)
                cases.append(case)
    loop, http = uvicorn_choices()
    result_file.write(
        "serving",
        {
            "requests": args.requests,
            "warmup": args.warmup,
            "repeat": args.repeat,
            "uvicorn": {"loop": loop, "http": http},
            "fastapi_endpoint": "def (thread pool)",
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            "cases": cases,
        },
        packages=("fastapi", "uvicorn", "uvloop", "httptools", "torch"),
    )


if __name__ == "__main__":
    main()
