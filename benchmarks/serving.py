"""Scoring-server throughput and latency on loopback: lockgate's server against FastAPI +
uvicorn (what MLflow's scoring server runs), serving the same model bundle through the same
loader, one server process at a time, under the same bounded load.

    python benchmarks/serving.py [--requests 3000] [--concurrency 8] [--model python|torch]

The load generator keeps ``concurrency`` keep-alive connections busy until ``requests``
requests have been answered (after a warm-up), and records each request's latency.
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
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
import uvicorn
from lockgate.serving.model import load_predictor, validate_rows
predictor = load_predictor(Path(sys.argv[1]))
app = FastAPI()
@app.get("/ping")
def ping():
    return {"status": "ok"}
@app.post("/invocations")
async def invocations(request: Request):
    payload = await request.json()
    rows = validate_rows(payload.get("inputs"), predictor.manifest.n_features)
    return JSONResponse({"predictions": predictor.predict(rows)})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
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
        cmd = [sys.executable, "-c", UVICORN_APP, str(model), str(port)]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", choices=["python", "torch"], default="python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, body = bundle(args.model, Path(tmp))
        results = {name: run_server(name, model, body, args) for name in ("lockgate", "uvicorn")}
    print(
        f"model={args.model} requests={args.requests} concurrency={args.concurrency} "
        f"cpus={os.cpu_count()}"
    )
    print(f"{'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        print(f"{name:<10} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    ratio = results["lockgate"]["rps"] / results["uvicorn"]["rps"]
    print(f"throughput ratio lockgate/uvicorn: {ratio:.2f}")


if __name__ == "__main__":
    main()
