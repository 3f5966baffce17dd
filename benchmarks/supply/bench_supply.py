"""Supply-chain timings against a real local registry, with the real trivy and cosign.

1. sign + attest + verify: lockgate's sign stage and ``verify_image`` vs the same cosign
   commands typed by hand (sign, 3 attestations, verify, 3 verify-attestation).
2. re-scan of an image whose base layers are unchanged (warm trivy cache) vs a cold scan.
3. cold secret scan with lockgate's settings vs trivy with the same skip (``--scanners secret
   --skip-dirs /var/lib/apt/lists``), the fair pair: alternating rounds, each with an empty
   cache, after one warm-up of each; and trivy's defaults (no skip), labelled as such, run
   ``--defaults-runs`` times because one run takes minutes.

Run: ``python -m benchmarks.supply.bench_supply [--only secret-scan]`` from the repository
root. Prints a Markdown table; the secret-scan comparison goes to
benchmarks/results/secret-scan.json (raw timings, versions, machine) and docs are generated
from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockgate.stages import sign as sign_stage
from lockgate.stages.context import StageContext
from lockgate.supply.cosign import CosignClient
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import Layer, build_image, layer_from_files, layer_from_tree
from lockgate.supply.registry import RegistryClient
from lockgate.supply.tools import Trivy, find_cosign, find_trivy
from lockgate.supply.trivy_scan import DEFAULT_SKIP_DIRS, ScanSettings, TrivyScanner
from lockgate.supply.verify import verify_image
from lockgate.supply.verify_policy import VerifyPolicy
from tests.supply.registry_server import RegistryServer, free_port

PASSWORD = "bench-password"
ROUNDS = 3


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(fn: Callable[[int], object]) -> float:
    return statistics.median(timed(lambda i=i: fn(i)) for i in range(ROUNDS))


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


def base_layers() -> list[Layer]:
    """A Debian-like base: os-release, dpkg status, Python's stdlib and the apt lists."""
    files = {
        "etc/os-release": Path("/etc/os-release").read_bytes(),
        "etc/debian_version": b"12.8\n",
        "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes(),
    }
    return [
        layer_from_files(files),
        layer_from_tree(Path("/usr/lib/python3"), "usr/lib/python3"),
        apt_lists_layer(),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["secret-scan"], default="")
    parser.add_argument("--defaults-runs", type=int, default=1, help="runs of trivy's defaults")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    server = RegistryServer(work / "registry", free_port()).start()
    try:
        run(work, server, args.only, args.defaults_runs)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def secret_scan(
    work: Path, scanner: TrivyScanner, trivy: Trivy, ref: ImageRef, access: Any, defaults_runs: int
) -> None:
    """Cold secret scans (empty cache each), lockgate against trivy given the same skip."""
    from benchmarks import result_file

    def lockgate_cold() -> None:
        cache = Path(tempfile.mkdtemp(dir=work))
        scanner.scan(ref, ScanSettings(cache, ("secret",)), work / "lg.json", access)

    def plain_trivy(*extra: str) -> Callable[[], None]:
        def run() -> None:
            env = {**os.environ, "TRIVY_CACHE_DIR": tempfile.mkdtemp(dir=work)}
            argv = ["image", "--scanners", "secret", "--image-src", "remote", "--format", "json"]
            argv += ["--output", str(work / "def.json"), "--quiet", *extra, str(ref)]
            subprocess.run(trivy.argv(*argv), check=True, env=env)

        return run

    load_before = result_file.load()
    same_skip = plain_trivy("--skip-dirs", ",".join(DEFAULT_SKIP_DIRS))
    raw = result_file.alternate(
        {
            "lockgate": result_file.stopwatch(lockgate_cold),
            "trivy_same_skip": result_file.stopwatch(same_skip),
        },
        repeat=ROUNDS,
    )
    defaults = [timed(plain_trivy()) for _ in range(defaults_runs)]
    result_file.write(
        "secret-scan",
        {
            "image": "4 layers: Debian-like base, /usr/lib/python3, apt lists (50 MB text), app",
            "skip_dirs": list(DEFAULT_SKIP_DIRS),
            "repeat": ROUNDS,
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
            "trivy_version": trivy_version(trivy),
        },
    )


def trivy_version(trivy: Trivy) -> str:
    done = subprocess.run(trivy.argv("--version"), capture_output=True, text=True, check=True)
    return done.stdout.split()[1] if done.stdout.split() else "unknown"


def run(work: Path, server: RegistryServer, only: str = "", defaults_runs: int = 1) -> None:
    access = server.access()
    client = RegistryClient(access)
    base = base_layers()
    size_mb = sum(len(layer.blob.data) for layer in base) / 1e6
    refs = [
        client.push_image(
            ImageRef.parse(f"{server.host}/bench/model:v{i}"),
            build_image([*base, layer_from_files({"app/model.txt": f"model {i}".encode()})]),
        )
        for i in range(ROUNDS + 2)
    ]
    trivy, cosign = find_trivy(), find_cosign()
    scanner = TrivyScanner(trivy)
    rows: list[tuple[str, str, str]] = []

    # -- 2. cold scan vs re-scan with unchanged base layers --------------------------------------
    cache = work / "cache-warm"
    settings = ScanSettings(cache, ("secret",))
    cold = timed(lambda: scanner.scan(refs[0], settings, work / "cold.json", access))
    rescans = [
        timed(lambda r=r: scanner.scan(r, settings, work / "re.json", access))
        for r in refs[1 : ROUNDS + 1]
    ]
    rescan = statistics.median(rescans)
    rows.append(
        (
            "re-scan, base layers unchanged (warm cache)",
            f"{rescan:.2f} s",
            f"cold {cold:.2f} s, {cold / rescan:.0f}x faster",
        )
    )

    # -- 3. cold secret scan: lockgate settings vs trivy with the same skip, and trivy defaults -
    secret_scan(work, scanner, trivy, refs[-1], access, defaults_runs)
    if only == "secret-scan":
        return

    # -- 1. sign + attest + verify ---------------------------------------------------------------
    keys = work / "keys"
    keys.mkdir()
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, "TUF_ROOT": str(work / "tuf")}
    subprocess.run(
        [str(cosign.path), "generate-key-pair"], cwd=keys, env=env, check=True, capture_output=True
    )
    scan_out = work / "scan-out"
    scan_out.mkdir()
    shutil.copy(work / "cold.json", scan_out / "trivy.json")
    scanner.convert(scan_out / "trivy.json", "cyclonedx", scan_out / "sbom.cdx.json")
    verdict = {
        "schema": "lockgate.scan-verdict/v1",
        "passed": True,
        "fail_on": ["CRITICAL"],
        "counts": {},
        "deciding": [],
        "ignored": [],
        "expired_ignores": [],
        "findings": [],
        "artifact": "",
    }
    (scan_out / "scan-verdict.json").write_text(json.dumps(verdict))

    parts: dict[str, list[float]] = {"sign": [], "verify": []}

    def lockgate_sign_verify(i: int) -> None:
        ref = refs[i]
        root = work / f"sign-{i}"
        (root / "in").mkdir(parents=True)
        shutil.copytree(scan_out, root / "in" / "scan")
        (root / "secrets").mkdir()
        (root / "secrets" / "cosign-password").write_text(PASSWORD)
        ctx = StageContext(
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
                "attest": ["sbom", "provenance", "scan"],
                "provenance": {
                    "builder_id": "https://ci.example/runner",
                    "source_repo": "git+https://git.example/team/model",
                },
            },
        )
        start = time.perf_counter()
        assert sign_stage.main(ctx) == 0
        parts["sign"].append(time.perf_counter() - start)
        start = time.perf_counter()
        report = verify_image(
            str(ref),
            VerifyPolicy(key=str(keys / "cosign.pub")),
            cosign=CosignClient(cosign, work / "tuf", access),
            registry=client,
        )
        assert report.passed, report.render()
        parts["verify"].append(time.perf_counter() - start)

    def cosign_by_hand(i: int) -> None:
        ref = str(refs[i])
        provenance = work / "sign-0" / "out" / "attestations" / "provenance.predicate.json"
        pred = {"sbom": scan_out / "sbom.cdx.json", "custom": scan_out / "scan-verdict.json"}
        cmds = [["sign", "-y", "--key", str(keys / "cosign.key"), "--tlog-upload=false", ref]]
        for kind, path in (
            ("cyclonedx", pred["sbom"]),
            ("slsaprovenance1", provenance),
            ("custom", pred["custom"]),
        ):
            cmds.append(
                [
                    "attest",
                    "-y",
                    "--key",
                    str(keys / "cosign.key"),
                    "--type",
                    kind,
                    "--predicate",
                    str(path),
                    "--tlog-upload=false",
                    ref,
                ]
            )
        cmds.append(
            ["verify", "--key", str(keys / "cosign.pub"), "--insecure-ignore-tlog=true", ref]
        )
        for kind in ("cyclonedx", "slsaprovenance1", "custom"):
            cmds.append(
                [
                    "verify-attestation",
                    "--key",
                    str(keys / "cosign.pub"),
                    "--type",
                    kind,
                    "--insecure-ignore-tlog=true",
                    ref,
                ]
            )
        for cmd in cmds:
            subprocess.run([str(cosign.path), *cmd], env=env, check=True, capture_output=True)

    ours = median_of(lambda i: lockgate_sign_verify(i))
    theirs = median_of(lambda i: cosign_by_hand(i))
    rows.insert(
        0,
        (
            "sign + 3 attestations + verify (all checks)",
            f"{ours:.2f} s",
            f"cosign by hand {theirs:.2f} s, ratio {ours / theirs:.2f}",
        ),
    )
    rows.insert(
        1,
        (
            "  of which: sign stage (sign + 3 attest)",
            f"{statistics.median(parts['sign']):.2f} s",
            "4 cosign signing processes",
        ),
    )
    rows.insert(
        2,
        (
            "  of which: verify_image (4 checks in parallel)",
            f"{statistics.median(parts['verify']):.2f} s",
            "4 cosign verify processes",
        ),
    )

    print(
        f"image: 4 layers, {size_mb:.0f} MB compressed; machine: {os.cpu_count()} cores; "
        f"median of {ROUNDS}"
    )
    print("| measurement | lockgate | compared with |")
    print("| --- | ---: | --- |")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
