"""Take three candidates down the whole release path, the way a team's CI and release managers
would, with the lockgate CLI only:

1. the first model (10 epochs): pipeline → verify → staging → two approvals → production (a
   first deploy: nothing runs there yet to compare a canary with);
2. the retrained model (the pipeline as committed): evaluated against the champion, canaried in
   staging, refused in production until two release managers approve it, canaried into
   production, monitored;
3. a deliberately bad candidate (accurate offline, 250 ms slower per call live): its staging
   canary aborts on latency and rolls back by itself; production keeps serving candidate 2.

Then the lineage of the production digest and ``lockgate audit verify``. Every step prints
its duration. Usage: ``python3 release.py [--executor docker|local] [--state DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_state import AUTHOR, PROMOTER, REGISTRY_USER, DemoState, free_port
from release_steps import Flow, StepFailed

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Candidate:
    title: str
    edits: dict[str, str] = field(default_factory=dict)  # lockgate.yaml text replacements
    canary_must_abort: bool = False


CANDIDATES = (
    Candidate("candidate 1: the first model (10 epochs)", {"epochs: 30": "epochs: 10"}),
    Candidate("candidate 2: retrained (30 epochs, the pipeline as committed)"),
    Candidate(
        "candidate 3: accurate offline, 250 ms slower per call live (deliberately bad)",
        {"serve_delay_ms: 0": "serve_delay_ms: 250"},
        canary_must_abort=True,
    ),
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", default="docker", choices=("docker", "local"))
    parser.add_argument("--state", type=Path, default=HERE / ".lockgate" / "demo")
    parser.add_argument("--registry-port", type=int, help="default: the last one, else 5443")
    parser.add_argument("--free-port", action="store_true", help="a free registry port")
    parser.add_argument("--env-suffix", default="", help="rename staging/production (tests)")
    parser.add_argument("--json", type=Path, help="also write the outcome as JSON here")
    parser.add_argument(
        "--down", action="store_true", help="remove the environments' containers, stop the registry"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    begin, load_at_start = time.perf_counter(), [round(x, 1) for x in os.getloadavg()]
    state = DemoState(args.state.resolve())
    envs = {"staging": f"staging{args.env_suffix}", "production": f"production{args.env_suffix}"}
    flow = Flow(envs=envs, executor=args.executor)
    if args.down:
        flow.teardown_environments()
        state.registry(None).stop()
        return 0
    try:
        with flow.step("setup: registry (TLS + basic auth), keys, allowed signers"):
            registry = state.registry(free_port() if args.free_port else args.registry_port)
            registry.start()
            flow.teardown_environments()
            project = state.fresh_project(registry, envs)
        flow.configure(
            project,
            registry_ca=registry.ca,
            secrets={
                "RELEASE_REGISTRY_USER": REGISTRY_USER,
                "RELEASE_REGISTRY_PASSWORD": registry.password,
                "RELEASE_COSIGN_PASSWORD": state.cosign_password(),
                "LOCKGATE_REGISTRY_USERNAME": REGISTRY_USER,
                "LOCKGATE_REGISTRY_PASSWORD": registry.password,
            },
            people=state.people,
        )
        print(f"release: registry https://{registry.host} (TLS, basic auth); author {AUTHOR}; "
              f"promoter {PROMOTER}; approvers lena, omar", flush=True)  # fmt: skip
        print("release: trivy runs offline: secret and misconfiguration scanning are live; "
              "the vulnerability database is absent, so no CVE scan", flush=True)  # fmt: skip
        releases = [flow.release(c.title, c.edits, c.canary_must_abort) for c in CANDIDATES]
        flow.finish(releases[1])
    except StepFailed as failure:
        print(f"release: stopped: {failure}", file=sys.stderr)
        return 1
    total = time.perf_counter() - begin
    print(f"release: done in {total:.1f}s", flush=True)
    if args.json:
        measured = {"seconds": round(total, 1), "executor": args.executor,
                    "load_average_at_start": load_at_start,
                    "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
                    "cpus": os.cpu_count()}  # fmt: skip
        args.json.write_text(json.dumps({**flow.outcome, **measured}, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main(sys.argv[1:]))
