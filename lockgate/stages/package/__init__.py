"""``uses: lockgate/package``: build the model-serving image, push it, record its digest.

The model (a train stage's ``model/`` folder or ``models:/NAME/VERSION``) becomes a serving
bundle; the bundle plus :mod:`lockgate.serving` go onto the base image (the stage's runner image
unless ``with.base``) in a deterministic build context, built through the Docker Engine API that
``engine: true`` gives the stage, pushed with bounded re-tries, and recorded in ``image.json``.
See docs/package.md.

The stage itself is in ``stage.py``; this module names what the stage registry imports.
"""

from __future__ import annotations

from lockgate.stages.package.stage import main, package

__all__ = ["main", "package"]
