"""lockgate: gated, containerized ML pipelines that run the same on a laptop and in CI."""

import time

__version__ = "0.1.0"
STARTED = time.time()  # when this command started: the run summary counts from here
