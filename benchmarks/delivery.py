"""Delivery benchmarks on the local docker target (real nginx, real containers, loopback load).

1. Rollback time: from the end of the failing measurement to the moment the proxy serves only
   the stable version (the routing generation confirmed, and the last request the candidate
   answered), over several aborted canaries.
2. Proxy overhead: latency at a fixed request rate straight to the stable container vs through
   the nginx router (what a user without a router would have), p50/p99.

    python benchmarks/delivery.py [--aborts 8] [--rate 200] [--seconds 8]

Needs a Docker engine and the base image; builds the serving stub from tests/delivery.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    import docker

    from lockgate.delivery.config import EnvironmentDelivery
    from lockgate.delivery.rollout.rollouts import Rollouts
    from lockgate.delivery.rollout.state import StateStore
    from lockgate.delivery.rollout.targets.docker import DockerTarget
    from lockgate.delivery.rollout.traffic import LoadGenerator

    parser = argparse.ArgumentParser()
    parser.add_argument("--aborts", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
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
            "canary": {"steps": [{"weight": 25, "pause": {"duration": 1.0}}, {"weight": 100}]},
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
            url = target.url()
            # 1. rollback time
            to_routing, to_last_canary_request = [], []
            load = LoadGenerator(url, 60, 600.0).start()
            for _ in range(args.aborts):
                result = rollouts.start(image, {"ERROR_RATE": "0.5"})
                assert result.status == "aborted" and result.rollback and result.failed_at
                time.sleep(0.5)
                stable_addr = target.upstream(stable)
                served = [o for o in load.results() if o.upstream and o.upstream != stable_addr]
                last = max(o.started + o.seconds for o in served)
                to_routing.append(result.rollback.effective_at - result.failed_at)
                to_last_canary_request.append(max(0.0, last - result.failed_at))
            outcomes = load.stop()
            failed_stable = [
                o for o in outcomes if o.failed and o.upstream == target.upstream(stable)
            ]
            # 2. proxy overhead
            direct_url = target.metrics_url(stable)
            assert direct_url is not None
            rows = []
            for name, where in (("direct to the container", direct_url), ("through nginx", url)):
                done = LoadGenerator(where, args.rate, args.seconds, rows=4).run()
                ok = [o.seconds * 1000 for o in done if not o.failed]
                rows.append(
                    (
                        name,
                        len(done),
                        len(done) - len(ok),
                        statistics.median(ok),
                        percentile(ok, 0.99),
                    )
                )
        finally:
            target.teardown()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    print(f"\nrollback: failing measurement -> 100% stable, {args.aborts} aborts")
    for name, values in (
        ("routing in effect", to_routing),
        ("last request answered by the candidate", to_last_canary_request),
    ):
        print(
            f"  {name}: min {min(values):.3f} s, median {statistics.median(values):.3f} s, "
            f"max {max(values):.3f} s"
        )
    print(f"  failed requests answered by stable during the aborts: {len(failed_stable)}")
    print(f"\nproxy overhead at {args.rate:.0f} requests/s for {args.seconds:.0f} s (4 rows each)")
    print("  path | requests | failed | p50 ms | p99 ms")
    for name, n, bad, p50, p99 in rows:
        print(f"  {name} | {n} | {bad} | {p50:.2f} | {p99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
