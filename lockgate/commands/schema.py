from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--indent", type=int, default=2)


def spec_schema() -> dict[str, object]:
    from lockgate.spec.models import Pipeline

    schema = Pipeline.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lockgate.dev/schema/lockgate.v1.json"
    schema["title"] = "lockgate.yaml (version 1)"
    return schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(spec_schema(), indent=args.indent, sort_keys=True))
    return 0
