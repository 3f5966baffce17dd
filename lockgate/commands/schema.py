from __future__ import annotations

import argparse
import json
from typing import Any, cast


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--indent",
        type=int,
        default=2,
        metavar="N",
        help="spaces per level of the printed JSON (default: 2)",
    )


def spec_schema() -> dict[str, object]:
    from lockgate.delivery.config import EnvironmentDelivery
    from lockgate.spec.models import Pipeline

    schema = Pipeline.model_json_schema(by_alias=True)
    # The spec keeps each environment's `rollout:` as a mapping (its models sit in the release
    # layer above the spec); editors get the full shape here.
    rollout = EnvironmentDelivery.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = cast("dict[str, Any]", schema.setdefault("$defs", {}))
    defs.update(rollout.pop("$defs", {}))
    rollout["title"] = "Rollout"
    defs["Rollout"] = rollout
    environment = defs["Environment"]
    environment["properties"]["rollout"] = {
        "anyOf": [{"$ref": "#/$defs/Rollout"}, {"type": "null"}],
        "default": None,
        "description": environment["properties"]["rollout"].get("description", ""),
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lockgate.dev/schema/lockgate.v1.json"
    schema["title"] = "lockgate.yaml (version 1)"
    return schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(spec_schema(), indent=args.indent, sort_keys=True))
    return 0
