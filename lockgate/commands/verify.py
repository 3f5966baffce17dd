"""``lockgate verify IMAGE@DIGEST [--policy FILE] [--key cosign.pub] [--model-version V]``.

Registered as `lockgate verify` in lockgate/commands/__init__.py. Registry
credentials come from ``LOCKGATE_REGISTRY_USER`` / ``LOCKGATE_REGISTRY_PASSWORD`` (never
flags, so they stay out of shell history and process lists).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lockgate.commands._options import add_json_argument, print_json
from lockgate.supply.verify import verify_ref
from lockgate.supply.verify_policy import load_verify_policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image reference pinned by digest: NAME@sha256:...")
    parser.add_argument("--policy", type=Path, help="verify policy file (YAML or JSON)")
    parser.add_argument("--key", help="cosign public key file or KMS URI (overrides the policy)")
    parser.add_argument("--model-version", help="the model version the image must carry")
    parser.add_argument(
        "--require",
        help="comma-separated attestations to require (sbom,provenance,evaluation,scan)",
    )
    parser.add_argument("--registry-ca", type=Path, help="CA file of a private registry")
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="talk to a test registry on loopback (127.0.0.1, localhost) over plain HTTP",
    )
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {"key": args.key, "model_version": args.model_version}
    if args.require:
        overrides["require"] = [part.strip() for part in args.require.split(",") if part.strip()]
    policy = load_verify_policy(args.policy, overrides)
    report = verify_ref(
        args.image, policy, registry_ca=args.registry_ca, plain_http=args.plain_http
    )
    if args.json:
        print_json(
            {
                "image": report.image,
                "ok": report.passed,
                "requirements": [
                    {"name": r.name, "passed": r.passed, "reason": r.reason}
                    for r in report.requirements
                ],
            }
        )
        return report.exit_code
    print(report.render())
    for failure in report.failures():
        print(f"verify: {failure.name}: {failure.reason}", file=sys.stderr)
    return report.exit_code
