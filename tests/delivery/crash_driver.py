"""A process that promotes, marks healthy and rolls back in a loop, to be killed at random
points by tests/delivery/test_promotion_crash.py. Uses the real ledger and manifest deployer and the
gatekit verifier double (see gatekit's docstring).

    python -m tests.delivery.crash_driver ROOT [FINAL_N]
    python -m tests.delivery.crash_driver ROOT serve

``serve`` forks one looping process per line read from stdin, so that each one to be killed
starts with the imports already done; it answers ``reaped`` once that process has ended.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.promotion.health import record_health
from tests.delivery.gatekit import image, make_world


def main(root: Path, final: int | None) -> int:
    world = make_world(root)
    world.clock = __import__("datetime").datetime.now  # real time: entries from many processes
    world.ledger.clock = lambda: __import__("datetime").datetime.now(__import__("datetime").UTC)
    sre = Identity("sre", "github")
    if final is not None:
        out = world.promoter().promote("staging", image(final), author="dana")
        print(out.status, *out.lines, sep="\n")
        return out.exit_code
    n = len(world.ledger.entries())
    # imports done: the test's random kill time counts from here
    print("ready", os.getpid(), flush=True)
    for i in range(n, n + 200):
        out = world.promoter().promote("staging", image(i % 5), author="dana")
        if out.status == "promoted":
            record_health(
                world.ledger, world.deployer, world.promoter().rules("staging"), sre, mark="healthy"
            )
        if i % 3 == 0:
            world.promoter().rollback("staging")
    return 0


def serve(root: Path) -> int:
    while sys.stdin.readline():
        child = os.fork()
        if child == 0:
            code = 1
            try:
                code = main(root, None)
            finally:
                os._exit(code)
        os.waitpid(child, 0)
        print("reaped", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[2:] == ["serve"]:
        sys.exit(serve(Path(sys.argv[1])))
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
