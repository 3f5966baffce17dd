"""Supply-chain timings against a real local registry, with the real trivy and cosign.

Three parts, chosen with ``--only`` (a comma-separated list; all three by default):

- ``rescan``: a re-scan of a rebuilt image whose base layers are unchanged (the persistent trivy
  cache already holds them) vs a cold scan of the same kind of image (an empty cache each round);
- ``sign``: lockgate's sign stage (sign + 3 attestations) and ``verify_image`` vs the same cosign
  commands typed by hand, one after another (sign, 3 attest, verify, 3 verify-attestation);
- ``secret-scan``: a cold secret scan with lockgate's settings vs trivy with the same skip
  (``--scanners secret --skip-dirs /var/lib/apt/lists``), the fair pair, each round with an empty
  cache; and trivy's defaults (no skip), labelled as such, run ``--defaults-runs`` times because
  one run takes minutes.

Every pair runs in alternating rounds after one warm-up of each side, and every timed scan or
signature gets an image no earlier round touched (same base layers, its own one-file app layer).
``rescan`` and ``sign`` go to ``benchmarks/results/supply.json``, ``secret-scan`` to
``benchmarks/results/secret-scan.json`` (machine, versions, load average, raw timings); docs are
generated from them (``python -m benchmarks.published``).

Run from the repository root: ``python -m benchmarks.supply.bench_supply [--only sign,rescan]
[--repeat 3]``. ``--tiny`` swaps the 29 MB base for a small one, for a quick trial of the script
(its numbers say nothing about the real image).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import result_file, supply_tables
from lockgate.stages import sign as sign_stage
from lockgate.stages.context import StageContext
from lockgate.supply.cosign import CosignClient
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import Layer, build_image, layer_from_files, layer_from_tree
from lockgate.supply.registry import RegistryClient
from lockgate.supply.registry_http import RegistryAccess
from lockgate.supply.tools import Cosign, Trivy, find_cosign, find_trivy
from lockgate.supply.trivy_scan import DEFAULT_SKIP_DIRS, ScanSettings, TrivyScanner
from lockgate.supply.verify import verify_image
from lockgate.supply.verify_policy import VerifyPolicy
from tests.supply.registry_server import RegistryServer, free_port

PASSWORD = "bench-password"
PARTS = ("rescan", "sign", "secret-scan")
ATTEST = ("sbom", "provenance", "scan")
# cosign's predicate type for each attestation the sign stage writes, in the same order
COSIGN_TYPES = ("cyclonedx", "slsaprovenance1", "custom")
WARMUP = 1


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def spread(raw: list[float]) -> dict[str, Any]:
    """A side's median and every raw timing, as the result file keeps them."""
    return {"median": result_file.median(raw), "raw": [round(v, 4) for v in raw]}


def apt_lists_layer() -> Layer:
    """The package index as a debootstrap'ed image holds it: plain text, ~50 MB."""
    lists = Path("/var/lib/apt/lists")
    files = {}
    for packed in sorted(lists.glob("*bookworm_main_binary-amd64_Packages*")):
        text = subprocess.run(
            ["/usr/lib/apt/apt-helper", "cat-file", str(packed)], capture_output=True, check=True
        ).stdout
        files[f"var/lib/apt/lists/{packed.name.removesuffix('.lz4')}"] = text
    return layer_from_files(files)


def base_layers(tiny: bool) -> tuple[list[Layer], str]:
    """A Debian-like base (os-release, dpkg status, Python's stdlib, the apt lists) and how the
    result file describes the image; ``tiny`` keeps only the first layer."""
    files = {
        "etc/os-release": Path("/etc/os-release").read_bytes(),
        "etc/debian_version": b"12.8\n",
        "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes(),
    }
    if tiny:
        return [layer_from_files(files)], "2 layers: os-release and dpkg status, app (trial size)"
    layers = [
        layer_from_files(files),
        layer_from_tree(Path("/usr/lib/python3"), "usr/lib/python3"),
        apt_lists_layer(),
    ]
    return layers, "4 layers: Debian-like base, /usr/lib/python3, apt lists (50 MB text), app"


@dataclass
class Images:
    """Pushes images that share the base layers and differ in a one-file app layer, so that each
    timed scan or signature can have an image no earlier round has scanned or signed."""

    client: RegistryClient
    host: str
    base: list[Layer]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def fresh(self) -> ImageRef:
        i = next(self.counter)
        app = layer_from_files({"app/model.txt": f"model {i}".encode()})
        ref = ImageRef.parse(f"{self.host}/bench/model:v{i}")
        return self.client.push_image(ref, build_image([*self.base, app]))

    @property
    def megabytes(self) -> float:
        return round(sum(len(layer.blob.data) for layer in self.base) / 1e6, 1)


@dataclass
class Tools:
    trivy: Trivy
    cosign: Cosign
    scanner: TrivyScanner
    access: RegistryAccess


def rescan(work: Path, tools: Tools, images: Images, repeat: int) -> dict[str, Any]:
    """A re-scan in the persistent cache vs a cold scan, alternating; each scans a new image."""
    warm = ScanSettings(work / "cache-warm", ("secret",))
    # the rebuilt images share their base with this one, so its scan leaves those layers cached
    tools.scanner.scan(images.fresh(), warm, work / "prime.json", tools.access)

    def cold() -> float:
        ref, cache = images.fresh(), Path(tempfile.mkdtemp(dir=work, prefix="cache-cold-"))
        settings = ScanSettings(cache, ("secret",))
        return timed(lambda: tools.scanner.scan(ref, settings, work / "cold.json", tools.access))

    def again() -> float:
        ref = images.fresh()
        return timed(lambda: tools.scanner.scan(ref, warm, work / "re.json", tools.access))

    raw = result_file.alternate({"cold": cold, "rescan": again}, repeat=repeat, warmup=WARMUP)
    return {"cold": spread(raw["cold"]), "rescan": spread(raw["rescan"])}


def scan_inputs(work: Path, tools: Tools, images: Images) -> Path:
    """What the sign stage attests: a scan report's CycloneDX SBOM and a passing verdict."""
    scan_out = work / "scan-out"
    scan_out.mkdir()
    settings = ScanSettings(work / "cache-sign", ("secret",))
    tools.scanner.scan(images.fresh(), settings, scan_out / "trivy.json", tools.access)
    tools.scanner.convert(scan_out / "trivy.json", "cyclonedx", scan_out / "sbom.cdx.json")
    return scan_out


def write_verdict(path: Path, ref: ImageRef) -> Path:
    """A passing scan verdict for ``ref``: the sign stage signs only an image whose own scan
    passed, and the verdict names the image by digest."""
    verdict = {
        "schema": "lockgate.scan-verdict/v1",
        "passed": True,
        "fail_on": ["CRITICAL"],
        "counts": {},
        "deciding": [],
        "ignored": [],
        "expired_ignores": [],
        "findings": [],
        "artifact": str(ref),
    }
    path.write_text(json.dumps(verdict))
    return path


def sign_context(work: Path, scan_out: Path, keys: Path, ref: ImageRef) -> StageContext:
    """The sign stage's context for one image: its own workspace, the shared key and inputs."""
    root = Path(tempfile.mkdtemp(dir=work, prefix="sign-"))
    shutil.copytree(scan_out, root / "in" / "scan")
    write_verdict(root / "in" / "scan" / "scan-verdict.json", ref)
    (root / "secrets").mkdir()
    (root / "secrets" / "cosign-password").write_text(PASSWORD)
    return StageContext(
        workspace=root,
        inputs=root / "in",
        out=root / "out",
        secrets_dir=root / "secrets",
        state=work / "state",
        run_id="bench",
        stage="sign",
        git_sha="f" * 40,
        with_={
            "image": str(ref),
            "registry": {"plain_http": True},
            "key": str(keys / "cosign.key"),
            "key_password_secret": "cosign-password",
            "attest": list(ATTEST),
            "provenance": {
                "builder_id": "https://ci.example/runner",
                "source_repo": "git+https://git.example/team/model",
            },
        },
    )


def cosign_commands(
    cosign: Cosign, keys: Path, predicates: list[Path], ref: str
) -> list[list[str]]:
    """What a user types for the same result: sign, attest each predicate, verify all four."""
    key, pub, no_tlog = str(keys / "cosign.key"), str(keys / "cosign.pub"), cosign.no_tlog_flags()
    cmds = [["sign", "-y", "--key", key, *no_tlog, ref]]
    for kind, path in zip(COSIGN_TYPES, predicates, strict=True):
        cmds.append(["attest", "-y", "--key", key, "--type", kind, "--predicate", str(path)])
        cmds[-1] += [*no_tlog, ref]
    cmds.append(["verify", "--key", pub, "--insecure-ignore-tlog=true", ref])
    for kind in COSIGN_TYPES:
        cmds.append(["verify-attestation", "--key", pub, "--type", kind])
        cmds[-1] += ["--insecure-ignore-tlog=true", ref]
    return cmds


def sign_verify(work: Path, tools: Tools, images: Images, repeat: int) -> dict[str, Any]:
    """lockgate's sign stage + ``verify_image`` vs cosign by hand, alternating, a new image each."""
    keys = work / "keys"
    keys.mkdir()
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, "TUF_ROOT": str(work / "tuf")}
    cosign = str(tools.cosign.path)
    subprocess.run(
        [cosign, "generate-key-pair"], cwd=keys, env=env, check=True, capture_output=True
    )
    scan_out = scan_inputs(work, tools, images)
    client = RegistryClient(tools.access)
    parts: dict[str, list[float]] = {"sign": [], "verify": []}
    provenance: list[Path] = []

    def lockgate_side() -> float:
        ref = images.fresh()
        ctx = sign_context(work, scan_out, keys, ref)
        start = time.perf_counter()
        assert sign_stage.main(ctx) == 0
        parts["sign"].append(time.perf_counter() - start)
        start = time.perf_counter()
        report = verify_image(
            str(ref),
            VerifyPolicy(key=str(keys / "cosign.pub")),
            cosign=CosignClient(tools.cosign, work / "tuf", tools.access),
            registry=client,
        )
        assert report.passed, report.render()
        parts["verify"].append(time.perf_counter() - start)
        provenance.append(ctx.out / "attestations" / "provenance.predicate.json")
        return parts["sign"][-1] + parts["verify"][-1]

    def by_hand() -> float:
        # the provenance predicate the sign stage wrote: the same statement, typed in by hand
        ref = images.fresh()
        verdict = write_verdict(Path(tempfile.mkdtemp(dir=work)) / "scan-verdict.json", ref)
        predicates = [scan_out / "sbom.cdx.json", provenance[0], verdict]
        cmds = cosign_commands(tools.cosign, keys, predicates, str(ref))
        start = time.perf_counter()
        for cmd in cmds:
            subprocess.run([cosign, *cmd], env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    raw = result_file.alternate(
        {"lockgate": lockgate_side, "cosign_by_hand": by_hand}, repeat=repeat, warmup=WARMUP
    )
    return {
        "attest": list(ATTEST),
        "lockgate": spread(raw["lockgate"]),
        "lockgate_sign": spread(parts["sign"][WARMUP:]),
        "lockgate_verify": spread(parts["verify"][WARMUP:]),
        "cosign_by_hand": spread(raw["cosign_by_hand"]),
    }


def secret_scan(
    work: Path, tools: Tools, images: Images, description: str, repeat: int, defaults_runs: int
) -> None:
    """Cold secret scans (empty cache each), lockgate against trivy given the same skip."""
    ref = images.fresh()

    def lockgate_cold() -> None:
        cache = Path(tempfile.mkdtemp(dir=work))
        tools.scanner.scan(ref, ScanSettings(cache, ("secret",)), work / "lg.json", tools.access)

    def plain_trivy(*extra: str) -> Callable[[], None]:
        def run() -> None:
            env = {**os.environ, "TRIVY_CACHE_DIR": tempfile.mkdtemp(dir=work)}
            argv = ["image", "--scanners", "secret", "--image-src", "remote", "--format", "json"]
            argv += ["--output", str(work / "def.json"), "--quiet", *extra, str(ref)]
            subprocess.run(tools.trivy.argv(*argv), check=True, env=env)

        return run

    load_before = result_file.load()
    same_skip = plain_trivy("--skip-dirs", ",".join(DEFAULT_SKIP_DIRS))
    raw = result_file.alternate(
        {
            "lockgate": result_file.stopwatch(lockgate_cold),
            "trivy_same_skip": result_file.stopwatch(same_skip),
        },
        repeat=repeat,
        warmup=WARMUP,
    )
    defaults = [timed(plain_trivy()) for _ in range(defaults_runs)]
    result_file.write(
        "secret-scan",
        {
            "image": description,
            "skip_dirs": list(DEFAULT_SKIP_DIRS),
            "repeat": repeat,
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            "lockgate": {"median": result_file.median(raw["lockgate"]), "raw": raw["lockgate"]},
            "trivy_same_skip": {
                "median": result_file.median(raw["trivy_same_skip"]),
                "raw": raw["trivy_same_skip"],
            },
            "trivy_defaults": (
                {"median": result_file.median(defaults), "raw": defaults} if defaults else None
            ),
            "trivy_version": trivy_version(tools.trivy),
        },
    )


def trivy_version(trivy: Trivy) -> str:
    done = subprocess.run(trivy.argv("--version"), capture_output=True, text=True, check=True)
    return done.stdout.split()[1] if done.stdout.split() else "unknown"


def run(work: Path, server: RegistryServer, args: argparse.Namespace) -> None:
    access = server.access()
    base, description = base_layers(args.tiny)
    images = Images(RegistryClient(access), server.host, base)
    trivy = find_trivy()
    tools = Tools(trivy, find_cosign(), TrivyScanner(trivy), access)
    parts: tuple[str, ...] = args.only
    payload: dict[str, Any] = {}
    load_before = result_file.load()
    if "rescan" in parts:
        payload["rescan"] = rescan(work, tools, images, args.repeat)
    if "sign" in parts:
        payload["sign_verify"] = sign_verify(work, tools, images, args.repeat)
    if payload:
        path = result_file.write(
            "supply",
            {
                "image": description,
                "image_mb": images.megabytes,
                "repeat": args.repeat,
                "warmup": WARMUP,
                "load_average_before": load_before,
                "load_average_after": result_file.load(),
                "trivy_version": trivy_version(trivy),
                "cosign_version": tools.cosign.version,
                **payload,
            },
        )
        print(supply_tables.supply(json.loads(path.read_text())))
    if "secret-scan" in parts:
        repeat, runs = args.repeat, args.defaults_runs
        secret_scan(work, tools, images, description, repeat, runs)


def parts_arg(text: str) -> tuple[str, ...]:
    """``--only``'s value: a comma-separated subset of :data:`PARTS`."""
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(PARTS)} (got {text!r})")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=parts_arg, default=PARTS, help=",".join(PARTS))
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds per pair")
    parser.add_argument("--defaults-runs", type=int, default=1, help="runs of trivy's defaults")
    parser.add_argument("--tiny", action="store_true", help="a small base image, for a trial")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    server = RegistryServer(work / "registry", free_port()).start()
    try:
        run(work, server, args)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
