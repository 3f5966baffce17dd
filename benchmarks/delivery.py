"""Delivery benchmarks on the local docker target (real nginx, real containers, loopback load).

1. Rollback time: from the end of the failing measurement to the moment the proxy serves only
   the stable version (the routing generation confirmed, and the last request the candidate
   answered), over several aborted canaries.
2. Proxy overhead: latency at a fixed request rate straight to the stable container vs through
   the nginx router (what a user without a router would have), p50/p99. The two paths run in
   alternating rounds after one warm-up round of each, so machine load hits both alike.

    python -m benchmarks.delivery [--aborts 8] [--rate 200] [--seconds 2] [--rounds 4]
    python -m benchmarks.delivery --aborts 1 --seconds 1 --rounds 1   # a quick trial

Needs a Docker engine and the base image (``LOCKGATE_BASE_IMAGE``, default
lockgate/debian:bookworm); builds the serving stub from tests/delivery and the nginx proxy
image from the base. Writes benchmarks/results/delivery.json: every rollback time, each path's
latency summary per round and over all rounds, the request rate, the load average before and
after, and the Docker engine's, nginx's and the stub's Python versions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import result_file  # noqa: E402

CANARY_WEIGHT = 25  # percent of traffic the erroring candidate gets before analysis aborts it
ERROR_RATE = 0.5  # the candidate's share of failed answers
ABORT_LOAD_RATE = 60.0  # requests/s through the proxy while the canaries abort
ROWS = 4  # rows per POST /invocations on the overhead paths
TARGET_S = 5.0  # failing measurement -> 100 % stable traffic
PATHS = {
    "direct": "direct to the serving container (published port)",
    "nginx": "through the nginx router",
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: a value that was measured, not an interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_summary(outcomes: list[Any]) -> dict[str, Any]:
    """Counts and percentiles (ms) of one batch of load-generator outcomes."""
    ok = [o.seconds * 1000 for o in outcomes if not o.failed]
    summary: dict[str, Any] = {"requests": len(outcomes), "failed": len(outcomes) - len(ok)}
    if ok:
        summary |= {
            "min_ms": round(min(ok), 3),
            "p50_ms": round(statistics.median(ok), 3),
            "p90_ms": round(percentile(ok, 0.90), 3),
            "p99_ms": round(percentile(ok, 0.99), 3),
            "max_ms": round(max(ok), 3),
            "mean_ms": round(statistics.fmean(ok), 3),
        }
    return summary


def engine_versions(client: Any, proxy_name: str, serving_name: str) -> dict[str, str]:
    """The Docker engine's version, nginx's in the proxy image and Python's in the serving stub:
    the parts of the measured path that are not Python packages on this machine."""
    found = {"docker_engine": str(client.version().get("Version", "unknown"))}
    for key, name, argv in (
        ("nginx", proxy_name, ["nginx", "-v"]),
        ("serving_stub_python", serving_name, ["python3", "--version"]),
    ):
        try:
            done = client.containers.get(name).exec_run(argv)
            found[key] = done.output.decode(errors="replace").strip().split("/")[-1].split()[-1]
        except Exception as error:  # a missing version must not lose the measurement
            found[key] = f"unknown ({type(error).__name__})"
    return found


def rollbacks(rollouts: Any, target: Any, image: str, stable: Any, aborts: int) -> dict[str, Any]:
    """Abort ``aborts`` erroring canaries under proxy load; every raw time, in seconds."""
    from lockgate.delivery.rollout.traffic import LoadGenerator

    to_routing: list[float] = []
    to_last: list[float] = []
    load = LoadGenerator(target.url(), ABORT_LOAD_RATE, 3600.0).start()
    try:
        for _ in range(aborts):
            began = time.time()
            result = rollouts.start(image, {"ERROR_RATE": str(ERROR_RATE)})
            assert result.status == "aborted" and result.rollback and result.failed_at
            time.sleep(0.5)  # let requests in flight at the switch answer
            stable_addr = target.upstream(stable)
            served = [
                o.started + o.seconds
                for o in load.results()
                if o.started >= began and o.upstream and o.upstream != stable_addr
            ]
            to_routing.append(round(result.rollback.effective_at - result.failed_at, 4))
            to_last.append(round(max(0.0, max(served, default=0.0) - result.failed_at), 4))
    finally:
        outcomes = load.stop()
    stable_addr = target.upstream(stable)
    return {
        "aborts": aborts,
        "target_s": TARGET_S,
        "load_rate": ABORT_LOAD_RATE,
        "canary_weight": CANARY_WEIGHT,
        "error_rate": ERROR_RATE,
        "routing_in_effect_s": to_routing,
        "last_candidate_request_s": to_last,
        "requests": len(outcomes),
        "failed_answered_by_stable": sum(
            1 for o in outcomes if o.failed and o.upstream == stable_addr
        ),
    }


def overhead(urls: dict[str, str], rate: float, seconds: float, rounds: int) -> dict[str, Any]:
    """Both paths at ``rate`` for ``seconds`` per round, alternating, after one warm-up round."""
    from lockgate.delivery.rollout.traffic import LoadGenerator

    batches: dict[str, list[list[Any]]] = {name: [] for name in urls}

    def side(name: str) -> Any:
        def run() -> float:
            began = time.perf_counter()
            batches[name].append(LoadGenerator(urls[name], rate, seconds, rows=ROWS).run())
            return time.perf_counter() - began

        return run

    result_file.alternate({name: side(name) for name in urls}, repeat=rounds)
    paths: dict[str, Any] = {}
    for name, runs in batches.items():
        measured = runs[1:]  # the first batch of each side is the warm-up
        paths[name] = {
            "label": PATHS[name],
            **latency_summary([o for batch in measured for o in batch]),
            "rounds": [latency_summary(batch) for batch in measured],
        }
    return {"rate": rate, "seconds_per_round": seconds, "rounds": rounds, "rows": ROWS, **paths}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Deploy the stub once, abort canaries against it, then time the two paths."""
    import docker

    from lockgate.delivery.config import EnvironmentDelivery
    from lockgate.delivery.rollout.rollouts import Rollouts
    from lockgate.delivery.rollout.state import StateStore
    from lockgate.delivery.rollout.targets.docker import DockerTarget

    client = docker.from_env()
    base = os.environ.get("LOCKGATE_BASE_IMAGE", "lockgate/debian:bookworm")
    image = "lockgate-test/serving-stub:latest"
    client.images.build(
        path=str(ROOT / "tests/delivery/serving_stub"),
        tag=image,
        buildargs={"BASE": base},
        rm=True,
        network_mode="host",
    )
    settings = EnvironmentDelivery.model_validate(
        {
            "canary": {
                "steps": [{"weight": CANARY_WEIGHT, "pause": {"duration": 1.0}}, {"weight": 100}]
            },
            "analysis": {"min_requests": 5},
            "docker": {"drain_s": 0.3},
        }
    )
    env = f"bench{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        store = StateStore(Path(folder))
        target = DockerTarget(env, settings, store.folder, client=client, base_image=base)
        rollouts = Rollouts(env, settings, target, store)
        try:
            rollouts.start(image)
            stable = store.load(env).stable
            assert stable is not None
            rollback = rollbacks(rollouts, target, image, stable, args.aborts)
            direct = target.metrics_url(stable)
            assert direct is not None
            urls = {"direct": direct, "nginx": target.url()}
            proxy = overhead(urls, args.rate, args.seconds, args.rounds)
            found = engine_versions(client, target.proxy_name, target.container_name(stable))
        finally:
            target.teardown()
    return {"rollback": rollback, "proxy": proxy, "engine_versions": found, "base_image": base}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aborts", type=int, default=8, help="aborted canaries to time")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s on each path")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per path per round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per path")
    args = parser.parse_args(argv)
    before = result_file.load()
    payload = measure(args)
    payload |= {"load_average_before": before, "load_average_after": result_file.load()}
    print(result_file.write("delivery", payload, packages=("docker",)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
