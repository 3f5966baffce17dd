"""The stage contract's names: the bottom of the import graph.

Every stage finds its world through ``LOCKGATE_*`` environment variables; in a container the
folders sit at fixed mount points; images made from a recipe carry its digest in a label. The
engine, the executors, the stages and the image builder all speak these names, so they live here,
below all of them, and this module imports nothing from lockgate.
"""

from __future__ import annotations

# Mount points inside a stage container.
CONTAINER_WORKSPACE = "/workspace"
CONTAINER_IN = "/lockgate/in"
CONTAINER_OUT = "/lockgate/out"
CONTAINER_SECRETS = "/run/secrets"

# Environment variables a stage reads.
ENV_WORKSPACE = "LOCKGATE_WORKSPACE"
ENV_IN = "LOCKGATE_IN"
ENV_OUT = "LOCKGATE_OUT"
ENV_SECRETS = "LOCKGATE_SECRETS"
ENV_STATE = "LOCKGATE_STATE"
ENV_RUN_ID = "LOCKGATE_RUN_ID"
ENV_STAGE = "LOCKGATE_STAGE"
ENV_GIT_SHA = "LOCKGATE_GIT_SHA"
ENV_IMAGE_DIGEST = "LOCKGATE_IMAGE_DIGEST"
ENV_WITH = "LOCKGATE_WITH"
ENV_CACHE_PREFIX = "LOCKGATE_CACHE_"
# Files a stage writes at the top of its output for reports, job summaries and PR comments; an
# encrypted run's exports keep these readable (they are posted where people look anyway).
REPORT_FILES = frozenset(
    {"report.md", "metrics.json", "history.json", "image.json", "signed.json", "scan-verdict.json"}
)
# The training-curve chart the train and evaluate stages write beside report.md, which job
# summaries and PR comments replace with a chart drawn from history.json; the first name is the
# one written now, the others are names reports written earlier link to.
TRAINING_CURVE_NAMES = ("training-curve.svg", "training-curve.png")
# ``encryption.key`` of lockgate.yaml (a secret's name or file:PATH, never the key itself), for
# built-in stages that keep data in the state folder.
ENV_ENCRYPTION_KEY = "LOCKGATE_ENCRYPTION_KEY"
# ``encryption.credentials`` as JSON (what a KMS needs -> the secret's name; never a value).
ENV_ENCRYPTION_CREDENTIALS = "LOCKGATE_ENCRYPTION_CREDENTIALS"
# "1" when ``encryption.stage_credentials`` is ``minted``: the credentials named above are the
# short-lived ones the engine wrote for this attempt, not declared secrets.
ENV_ENCRYPTION_MINTED = "LOCKGATE_ENCRYPTION_MINTED"
# ``encryption.ca_file`` (a path relative to the project): the CA bundle a KMS's TLS must chain to.
ENV_ENCRYPTION_CA = "LOCKGATE_ENCRYPTION_CA"
# JSON object: upstream name -> the outputs digest its sealed folder, handed over sealed to a
# stage that reads it in place, must vouch for (what the engine checked before the stage began,
# so a folder swapped after that check is refused there too).
ENV_IN_DIGESTS = "LOCKGATE_IN_DIGESTS"

# Image label that records the digest of the recipe an image was built from.
RECIPE_LABEL = "dev.lockgate.recipe"
