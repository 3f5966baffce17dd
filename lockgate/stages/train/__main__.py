"""``python -m lockgate.stages.train``: the stage as a process (used by torchrun workers)."""

from __future__ import annotations

import sys

from lockgate.stages.context import StageContext
from lockgate.stages.train import main

if __name__ == "__main__":
    sys.exit(main(StageContext.from_env()))
