"""Encryption at rest: an encrypted cache hit against a plain one on a large output.

    python -m benchmarks.encryption [--mib 1024] [--repeat 3] [--lazy-repeat 5]

Two projects, the same two stages, one with ``encryption:`` set: ``big`` writes one file of
``--mib`` MiB, ``read`` needs it and reads it whole. Timed with the real CLI and the local
executor, in alternating rounds after one warm-up:

- ``hit_read``: ``big`` is a cache hit and ``read`` runs again (its env changes each round), so
  the hit is used: plain links the entry, encrypted opens (decrypts) it for ``read`` and removes
  the plaintext when the run ends;
- ``hit_only``: everything is cached and nothing reads the output (neither side opens it);
- ``store``: ``big`` runs again (its env changes) and its output enters the cache: plain by
  renaming, encrypted by sealing.

Then where the seconds go, in this process on one file of the same size (alternating rounds):
``open`` (authenticate, decrypt and write it, what a read hit adds), ``open_single`` (the same
bytes sealed as one message, opened by the one-stream reader that opened cache entries before
they were cut in segments), ``seal`` (what a store adds),
``copy`` (a plain copy of the file: writing every byte once, with no cipher) and ``sha256`` (the
digest both sides compute of a fresh output).

Then the reading stage's side (:mod:`benchmarks.encryption_lazy`): Parquet of the same size read
plain, read in place through the sealed file, or read after opening it into plaintext.

Writes ``benchmarks/results/encryption.json``; docs/encryption.md quotes it.
"""

from __future__ import annotations

import argparse
import mmap
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import encryption_lazy
from benchmarks.result_file import alternate, load, median, stopwatch, write
from lockgate.engine.sealed_file import SEGMENT

REPO = Path(__file__).resolve().parents[1]
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
SPEC = """\
version: 1
name: {name}
image: {{base: lockgate/debian:bookworm}}
secrets:
  data-key: {{file: data.key}}
{encryption}stages:
  big:
    run: [sh, -c, 'head -c {size} /dev/zero > $LOCKGATE_OUT/big.bin; echo $ROUND > $LOCKGATE_OUT/r']
    env: {{ROUND: "0"}}
  read:
    run: [sh, -c, 'cat $LOCKGATE_IN/big/big.bin > /dev/null; echo $ROUND > $LOCKGATE_OUT/done']
    needs: [big]
    env: {{ROUND: "0"}}
"""


def project(root: Path, name: str, size: int, encrypted: bool) -> Path:
    root.mkdir(parents=True)
    (root / "data.key").write_text(KEY)
    encryption = "encryption: {key: data-key}\n" if encrypted else ""
    (root / "lockgate.yaml").write_text(SPEC.format(name=name, size=size, encryption=encryption))
    return root


def set_round(root: Path, stage: str, value: int) -> None:
    spec = root / "lockgate.yaml"
    lines = spec.read_text().splitlines()
    at = lines.index(f"  {stage}:")
    env = next(i for i in range(at, len(lines)) if lines[i].startswith("    env:"))
    lines[env] = f'    env: {{ROUND: "{value}"}}'
    spec.write_text("\n".join(lines) + "\n")


CPU: dict[Path, list[float]] = {}  # per project: CPU seconds of each run (lockgate and stages)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run(root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "run", "--executor", "local"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    CPU.setdefault(root, []).append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"lockgate run failed in {root}:\n{done.stderr}")
    shutil.rmtree(root / ".lockgate" / "runs", ignore_errors=True)
    return seconds


def steps(folder: Path, size: int, repeat: int) -> dict[str, dict[str, object]]:
    """Seconds of each step a sealed output adds, on one file of ``size`` bytes."""
    from lockgate.engine.digests import file_sha256
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(bytes.fromhex(KEY))
    plain = folder / "plain.bin"
    with open(plain, "wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    sealed, back, copy = folder / "sealed.bin", folder / "back.bin", folder / "copy.bin"
    single, single_back = folder / "single.bin", folder / "single-back.bin"
    with open(plain, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as whole:
        single.write_bytes(sealer.seal(memoryview(whole), "big.bin"))

    cpu: dict[str, list[float]] = {}

    def fresh(path: Path | None, make: Callable[[], object]) -> Callable[[], float]:
        def side() -> float:
            if path is not None:
                path.unlink(missing_ok=True)  # not timed
            used = time.process_time()  # every thread of this process
            seconds = stopwatch(make)()
            cpu.setdefault(str(path), []).append(time.process_time() - used)
            return seconds

        return side

    raw = alternate(
        {
            "seal": fresh(sealed, lambda: sealer.seal_file(plain, sealed, "big.bin")),
            "open": fresh(back, lambda: sealer.open_file(sealed, back, "big.bin", "b")),
            "open_single": fresh(
                single_back, lambda: sealer.open_file(single, single_back, "big.bin", "b")
            ),
            "copy": fresh(copy, lambda: shutil.copyfile(plain, copy)),
            "sha256": fresh(None, lambda: file_sha256(plain)),
        },
        repeat=repeat,
    )
    mib, paths = size / (1 << 20), {"seal": sealed, "open": back, "copy": copy, "sha256": None}
    paths["open_single"] = single_back
    return {
        step: {
            "median": median(values),
            "mib_per_s": round(mib / median(values)),
            "raw": [round(v, 3) for v in values],
            "cpu_median": median(cpu[str(paths[step])][-repeat:]),
        }
        for step, values in raw.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lazy-repeat", type=int, default=5)
    args = parser.parse_args()
    size = args.mib << 20
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-enc-") as tmp:
        plain = project(Path(tmp) / "plain", "plain", size, False)
        sealed = project(Path(tmp) / "sealed", "sealed", size, True)
        for root in (plain, sealed):
            run(root)
        counter = {"n": 0}

        def bump(root: Path, stage: str) -> float:
            counter["n"] += 1
            set_round(root, stage, counter["n"])
            return run(root)

        results = {}
        for scenario, step in (
            ("hit_read", lambda root: bump(root, "read")),
            ("hit_only", run),
            ("store", lambda root: bump(root, "big")),
        ):
            raw = alternate(
                {"plain": lambda s=step: s(plain), "encrypted": lambda s=step: s(sealed)},
                repeat=args.repeat,
            )
            cpu = {"plain": CPU[plain][-args.repeat :], "encrypted": CPU[sealed][-args.repeat :]}
            results[scenario] = {
                side: {
                    "median": median(values),
                    "raw": [round(v, 3) for v in values],
                    "cpu_median": median(cpu[side]),
                    "cpu_raw": [round(v, 3) for v in cpu[side]],
                }
                for side, values in raw.items()
            }
            both = results[scenario]
            both["ratio"] = round(both["encrypted"]["median"] / both["plain"]["median"], 3)
            both["cpu_ratio"] = round(
                both["encrypted"]["cpu_median"] / both["plain"]["cpu_median"], 3
            )
            print(scenario, results[scenario], flush=True)
        step_times = steps(Path(tmp), size, args.repeat)
        print("steps", step_times, flush=True)
        lazy = encryption_lazy.reads(Path(tmp), args.mib, args.lazy_repeat, bytes.fromhex(KEY))
    write(
        "encryption",
        {
            "output_mib": args.mib,
            "repeat": args.repeat,
            "cipher": "AES-256-GCM",
            "scenarios": results,
            "steps": step_times,
            "reads": lazy,
            "lazy_repeat": args.lazy_repeat,
            "segment_mib": SEGMENT >> 20,
            "load_average_before": load_before,
            "load_average_after": load(),
        },
        packages=("cryptography",),
    )


if __name__ == "__main__":
    main()
