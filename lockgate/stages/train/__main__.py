"""``python -m lockgate.stages.train``: the stage as a process (used by torchrun workers).

An error the user can fix stops it with one line and that error's exit code (2 for bad input),
as ``lockgate stage train`` does, not with a traceback from every worker; a worker reports it to
the launching process instead when that asked for it (see ``launch.py``).
"""

from __future__ import annotations

import sys

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.train import main
from lockgate.stages.train.launch import leave_process_group, report_worker_error


def run() -> int:
    try:
        return main(StageContext.from_env())
    except LockgateError as exc:
        return report_worker_error(exc)
    finally:
        leave_process_group()


if __name__ == "__main__":
    sys.exit(run())
