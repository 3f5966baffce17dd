"""lockgate lineage REG/NAME@sha256:... | models:/NAME/N [--json]: image, model version, run,
data check and environments, with every link checked."""

from __future__ import annotations

import argparse
import json

from lockgate.commands._release import add_release_arguments, open_store, registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="REGISTRY/NAME@sha256:... or models:/NAME/VERSION")
    parser.add_argument(
        "--no-verify", action="store_true", help="do not read the image's attestations (offline)"
    )
    add_release_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.delivery.lineage import trace
    from lockgate.delivery.verifier import SupplyVerifier

    project = load_project(args)
    verifier = None if args.no_verify else SupplyVerifier(project.pipeline, project.root)
    found = trace(args.subject, open_store(project, args).entries(), verifier, registry(project))
    if args.json:
        print(json.dumps([x.to_json() for x in found], indent=2, sort_keys=True))
    else:
        for x in found:
            print(f"{x.image or x.digest or x.subject}")
            print(f"  model {x.model or '-'}  run {x.run_id or '-'}  author {x.author or '-'}")
            print(f"  artifacts {x.model_source or '-'}")
            for ev in x.events:
                print(
                    f"  {ev['seq']:>6} {ev['time']} {ev['action']:<9} "
                    f"{ev['environment'] or '-'} {ev['actor']}"
                )
            for link in x.links:
                print(f"  [{link.status}] {link.source} -> {link.target}: {link.detail}")
    return 1 if any(x.broken for x in found) else 0
