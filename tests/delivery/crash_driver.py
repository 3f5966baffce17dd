"""A process that promotes, marks healthy and rolls back in a loop, to be killed at random
points by tests/delivery/test_promotion_crash.py. Uses the real ledger and manifest deployer and the
gatekit verifier double (see gatekit's docstring).

    python -m tests.delivery.crash_driver ROOT [FINAL_N]
"""

from __future__ import annotations

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
    print("ready", flush=True)  # imports done: the test's random kill time counts from here
    for i in range(n, n + 200):
        out = world.promoter().promote("staging", image(i % 5), author="dana")
        if out.status == "promoted":
            record_health(
                world.ledger, world.deployer, world.promoter().rules("staging"), sre, mark="healthy"
            )
        if i % 3 == 0:
            world.promoter().rollback("staging")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
