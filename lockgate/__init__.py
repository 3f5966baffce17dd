"""lockgate: gated, containerized ML pipelines that run the same on a laptop and in CI."""

__version__ = "0.1.0"
