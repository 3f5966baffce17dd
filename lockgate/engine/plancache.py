"""A compiled-plan cache, so that re-running an unchanged pipeline skips YAML parsing and model
validation entirely (they cost more than the rest of a no-op run together).

The plan is stored as JSON keyed by the spec's bytes and lockgate's own source; image recipe
digests are recomputed on load from the files they name, so an edited Dockerfile or
requirements file is still seen.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.engine.digests import FileDigests, sha256_json
from lockgate.engine.plan import Plan, lockgate_source_digest, with_digest
from lockgate.engine.stagespec import ImageRecipe, StageSpec

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline

FORMAT = 1


def plan_key(spec_path: Path, spec_text: str, files: FileDigests) -> str:
    return sha256_json([FORMAT, str(spec_path), spec_text, lockgate_source_digest(files)])


def save(path: Path, key: str, plan: Plan, pipeline: Pipeline) -> None:
    data = {
        "key": key,
        "name": plan.pipeline_name,
        "project": str(plan.project),
        "stages": [asdict(s) for s in plan.stages],
        "secrets": {n: {"env": s.env, "file": s.file} for n, s in pipeline.secrets.items()},
        "encryption": plan.encryption,
        "encryption_credentials": plan.encryption_credentials,
        "encryption_ca": plan.encryption_ca,
        "encryption_role": plan.encryption_role,
        "encryption_sts": plan.encryption_sts,
        "encryption_vault_policies": plan.encryption_vault_policies,
        "encryption_service_account": plan.encryption_service_account,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load(path: Path, key: str, files: FileDigests) -> tuple[Plan, dict[str, Any]] | None:
    """The cached plan and secret sources, or None when absent or stale."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    recipes: dict[str, ImageRecipe] = {}
    stages = []
    for raw in data["stages"]:
        recipe = ImageRecipe(**{**raw["image"], "packages": tuple(raw["image"]["packages"])})
        if recipe.digest not in recipes:
            recipes[recipe.digest] = with_digest(recipe, data["name"], files)
        stages.append(_stage(raw, recipes[recipe.digest]))
    creds = tuple((str(n), str(s)) for n, s in data.get("encryption_credentials") or ())
    plan = Plan(
        data["name"],
        Path(data["project"]),
        tuple(stages),
        data.get("encryption"),
        creds,
        data.get("encryption_ca"),
        data.get("encryption_role"),
        data.get("encryption_sts"),
        tuple(str(p) for p in data.get("encryption_vault_policies") or ()),
        data.get("encryption_service_account"),
    )
    return plan, data["secrets"]


def _stage(raw: dict[str, Any], image: ImageRecipe) -> StageSpec:
    tuples = ("argv", "secrets", "needs", "inputs", "outputs")
    fields: dict[str, Any] = {
        k: (tuple(v) if k in tuples else v) for k, v in raw.items() if k != "image"
    }
    fields["env"] = tuple(tuple(p) for p in raw["env"])
    fields["caches"] = tuple(tuple(p) for p in raw["caches"])
    return StageSpec(image=image, **fields)
