from __future__ import annotations

import argparse

from lockgate.commands._options import add_json_argument, add_spec_argument, print_json
from lockgate.commands._project import load_project
from lockgate.commands._stage_configs import check_stage_configs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from lockgate.delivery.config import check_rollout_settings
    from lockgate.engine.secrets import missing_secrets

    project = load_project(args)
    check_stage_configs(project.pipeline, project.spec_text, project.spec_path)
    for note in check_rollout_settings(project.spec_path):
        print(f"note: {note}", file=sys.stderr)
    declared = {n: {"env": s.env, "file": s.file} for n, s in project.pipeline.secrets.items()}
    for problem in missing_secrets(declared, sorted(declared), project.root):
        print(f"warning: {problem} (a run of a stage that uses it will fail)", file=sys.stderr)
    n = len(project.pipeline.stages)
    if args.json:
        print_json(
            {
                "ok": True,
                "spec": str(project.spec_path),
                "pipeline": project.pipeline.name,
                "stages": list(project.pipeline.stages),
            }
        )
        return 0
    print(f"ok: {project.spec_path.name} ({project.pipeline.name}, {n} stage{'s' * (n != 1)})")
    return 0
