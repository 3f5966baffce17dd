"""``lockgate verify IMAGE@DIGEST [--policy FILE] [--key cosign.pub] [--model-version V]``.

Registered as `lockgate verify` in lockgate/cli.py. Registry
credentials come from ``LOCKGATE_REGISTRY_USERNAME`` / ``LOCKGATE_REGISTRY_PASSWORD`` (never
flags, so they stay out of shell history and process lists).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from lockgate.supply.cosign import CosignClient
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry import (
    RegistryAccess,
    RegistryClient,
    require_loopback_for_plain_http,
)
from lockgate.supply.tools import find_cosign
from lockgate.supply.verify import VerifyReport, verify_image
from lockgate.supply.verify_policy import VerifyPolicy, load_verify_policy


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


def verify_ref(
    image: str, policy: VerifyPolicy, *, registry_ca: Path | None = None, plain_http: bool = False
) -> VerifyReport:
    """Verify ``image`` with the real cosign and registry clients (credentials from
    LOCKGATE_REGISTRY_USERNAME / LOCKGATE_REGISTRY_PASSWORD)."""
    ref = ImageRef.pinned(image)
    access = RegistryAccess(
        ref.registry,
        os.environ.get("LOCKGATE_REGISTRY_USERNAME", ""),
        os.environ.get("LOCKGATE_REGISTRY_PASSWORD", ""),
        ca_file=registry_ca,
        plain_http=plain_http,
    )
    require_loopback_for_plain_http(access)
    with tempfile.TemporaryDirectory(prefix="lockgate-tuf-") as tuf:
        cosign = CosignClient(find_cosign(), Path(tuf), access, tlog_upload=policy.transparency_log)
        return verify_image(image, policy, cosign=cosign, registry=RegistryClient(access))


def verify_command(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {"key": args.key, "model_version": args.model_version}
    if args.require:
        overrides["require"] = [part.strip() for part in args.require.split(",") if part.strip()]
    policy = load_verify_policy(args.policy, overrides)
    report = verify_ref(
        args.image, policy, registry_ca=args.registry_ca, plain_http=args.plain_http
    )
    print(report.render())
    for failure in report.failures():
        print(f"verify: {failure.name}: {failure.reason}", file=sys.stderr)
    return report.exit_code
