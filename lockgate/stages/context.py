"""The stage contract, as seen from inside a stage.

Every stage, built-in or user-written, finds its world through environment variables, so the
same program runs unchanged in a container (where the paths are fixed mount points) and under
the local executor (where they are real folders of the run):

=====================  ==========================  ===========================================
variable               in a container              meaning
=====================  ==========================  ===========================================
LOCKGATE_WORKSPACE     /workspace                  the project source (read-only where possible)
LOCKGATE_IN            /lockgate/in                one sub-folder per upstream stage, read-only
LOCKGATE_OUT           /lockgate/out               where the stage writes its outputs
LOCKGATE_SECRETS       /run/secrets                one file per declared secret
LOCKGATE_STATE         (same path as the host)     a persistent, writable folder shared by all
                                                   stages and runs of the project (the embedded
                                                   MLflow store, watermarks); mounted at the
                                                   host's own absolute path so recorded paths
                                                   agree inside and outside containers
LOCKGATE_RUN_ID        -                           the run's id
LOCKGATE_STAGE         -                           the stage's name
LOCKGATE_GIT_SHA       -                           commit of the workspace ("" outside git)
LOCKGATE_WITH          -                           JSON object: the ``with:`` block of a
                                                   ``uses:`` stage (built-in stages only)
LOCKGATE_IN_DIGESTS    -                           JSON object: upstream -> the outputs digest
                                                   its sealed folder, read in place, must vouch
                                                   for (encryption on, built-in stages only)
=====================  ==========================  ===========================================

``metrics.json`` and ``report.md`` written to ``LOCKGATE_OUT`` are picked up for reports, job
summaries and pull-request comments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.contract import (
    CONTAINER_IN,
    CONTAINER_OUT,
    CONTAINER_SECRETS,
    CONTAINER_WORKSPACE,
    ENV_ENCRYPTION_CA,
    ENV_ENCRYPTION_CREDENTIALS,
    ENV_ENCRYPTION_KEY,
    ENV_ENCRYPTION_MINTED,
    ENV_GIT_SHA,
    ENV_IN,
    ENV_IN_DIGESTS,
    ENV_OUT,
    ENV_RUN_ID,
    ENV_SECRETS,
    ENV_STAGE,
    ENV_STATE,
    ENV_WITH,
    ENV_WORKSPACE,
)

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer


@dataclass(frozen=True)
class StageContext:
    """What a running stage knows about itself, read from the environment."""

    workspace: Path
    inputs: Path
    out: Path
    secrets_dir: Path
    state: Path
    run_id: str
    stage: str
    git_sha: str
    with_: Mapping[str, Any] = field(default_factory=dict)
    # upstream -> the outputs digest its sealed folder must vouch for, read in place
    in_digests: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StageContext:
        env = os.environ if env is None else env
        raw_with = env.get(ENV_WITH, "") or "{}"
        try:
            with_ = json.loads(raw_with)
        except json.JSONDecodeError as exc:
            raise ValueError(f"LOCKGATE_WITH is not valid JSON: {exc}") from None
        if not isinstance(with_, dict):
            raise ValueError("LOCKGATE_WITH must be a JSON object")
        try:
            in_digests = json.loads(env.get(ENV_IN_DIGESTS, "") or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ENV_IN_DIGESTS} is not valid JSON: {exc}") from None
        if not isinstance(in_digests, dict):
            raise ValueError(f"{ENV_IN_DIGESTS} must be a JSON object")
        return cls(
            workspace=Path(env.get(ENV_WORKSPACE, CONTAINER_WORKSPACE)),
            inputs=Path(env.get(ENV_IN, CONTAINER_IN)),
            out=Path(env.get(ENV_OUT, CONTAINER_OUT)),
            secrets_dir=Path(env.get(ENV_SECRETS, CONTAINER_SECRETS)),
            state=Path(env.get(ENV_STATE, ".lockgate/state")),
            run_id=env.get(ENV_RUN_ID, ""),
            stage=env.get(ENV_STAGE, ""),
            git_sha=env.get(ENV_GIT_SHA, ""),
            with_=with_,
            in_digests={str(k): str(v) for k, v in in_digests.items()},
        )

    def env(self) -> dict[str, str]:
        """The contract variables :meth:`from_env` reads this context back from: what starts a
        stage process by hand (a benchmark, a test) with the folders the engine would give it."""
        return {
            ENV_WORKSPACE: str(self.workspace),
            ENV_IN: str(self.inputs),
            ENV_OUT: str(self.out),
            ENV_SECRETS: str(self.secrets_dir),
            ENV_STATE: str(self.state),
            ENV_RUN_ID: self.run_id,
            ENV_STAGE: self.stage,
            ENV_GIT_SHA: self.git_sha,
            ENV_WITH: json.dumps(dict(self.with_)),
            **({ENV_IN_DIGESTS: json.dumps(dict(self.in_digests))} if self.in_digests else {}),
        }

    def upstream(self, name: str) -> Path:
        """The output folder of the upstream stage ``name``."""
        return self.inputs / name

    def at_rest_sealer(self) -> Sealer | None:
        """lockgate.yaml's ``encryption:`` key, for what the stage keeps in the state folder
        (the engine names it in LOCKGATE_ENCRYPTION_KEY: a secret's name, file:PATH or a KMS
        key, whose wrapped data key is kept in the state folder)."""
        ref = os.environ.get(ENV_ENCRYPTION_KEY)
        if not ref:
            return None
        from lockgate.engine.sealing import Sealer

        creds = json.loads(os.environ.get(ENV_ENCRYPTION_CREDENTIALS) or "{}")
        return Sealer.resolve(
            ref,
            self.secret,
            self.resolve,
            store=self.state,
            credentials=creds,
            ca_file=os.environ.get(ENV_ENCRYPTION_CA) or None,
            minted=os.environ.get(ENV_ENCRYPTION_MINTED) == "1",
        )

    def secret(self, name: str) -> str:
        """The value of a declared secret (read from its file, never logged)."""
        return (self.secrets_dir / name).read_text().rstrip("\n")

    def resolve(self, path: str) -> Path:
        """A path from the spec: ``in:STAGE/rel`` names an upstream output, anything else is
        relative to the workspace."""
        if path.startswith("in:"):
            return self.inputs / path[3:]
        if path.startswith("out:"):
            return self.out / path[4:]
        p = Path(path)
        return p if p.is_absolute() else self.workspace / p
