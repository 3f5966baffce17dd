"""One shape for every benchmark's result file: what ran, where, with which versions, raw timings.

Each benchmark calls :func:`write` once at the end; ``benchmarks/results/NAME.json`` then holds
the machine (CPU model and count, memory, load average before and after), the versions of the
packages that took part, the sizes used and every raw timing, so that the published tables
(``python -m benchmarks.published``) can be regenerated from the file alone.

:func:`alternate` is the measuring loop the comparisons share: one warm-up of every side, then
``repeat`` rounds that run each side once in turn, so machine load hits all sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# where write() puts result files: benchmarks/results, or another folder for a trial run
OUT = Path(os.environ.get("LOCKGATE_BENCH_RESULTS") or RESULTS)


def machine() -> dict[str, Any]:
    """CPU model and count, total memory, OS and Python: enough to tell two machines apart."""
    model, flags = "", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if model and flags:
                break
    mem_gib = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        # what ciphers and hashes run on: AES-GCM is several times faster with vector AES
        "cpu_features": sorted(
            flags & {"aes", "vaes", "pclmulqdq", "vpclmulqdq", "sha_ni", "avx2", "avx512f"}
        ),
    }


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` (``"absent"`` for one not installed)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def alternate(
    sides: Mapping[str, Callable[[], float]],
    *,
    repeat: int,
    warmup: int = 1,
    rotate: bool = False,
) -> dict[str, list[float]]:
    """Raw timings of each side: ``warmup`` untimed rounds, then ``repeat`` alternating rounds.

    Each callable runs its side once and returns the seconds it measured (so a side can time
    only its own work, or a whole process). With ``rotate``, each round starts one side later
    than the one before, so no side always runs first, or always right after the same other
    side: what one side leaves behind (a warm allocator, a cold cache) falls on every side in
    turn."""
    for _ in range(warmup):
        for run in sides.values():
            run()
    raw: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeat):
        order = names[r % len(names) :] + names[: r % len(names)] if rotate else names
        for name in order:
            raw[name].append(sides[name]())
    return raw


def stopwatch(work: Callable[[], object]) -> Callable[[], float]:
    """A side for :func:`alternate` that times ``work`` in this process."""

    def run() -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    return run


def compile_lockgate() -> str:
    """Compile lockgate's modules to bytecode, as installing the package does.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in CI and the runner image) a source checkout is
    never compiled, so each process would compile every lockgate module it imports: a cost an
    installed lockgate does not pay and a one-file baseline script hardly pays. Returns what
    the result file records."""
    import compileall

    compileall.compile_dir(str(RESULTS.parents[1] / "lockgate"), quiet=1)
    return "lockgate precompiled, as installed"


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def revision(checkout: Path) -> str:
    """The commit a baseline checkout holds, as ``SHORT-HASH SUBJECT`` (its folder name when it
    is not a git work tree)."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or checkout.name


def baseline_name(checkout: Path) -> str:
    """How tables name a baseline checkout: ``main-SHORT-HASH`` (its folder name when it is not a
    git work tree); :func:`revision` keeps the subject for the result file."""
    found = revision(checkout)
    return found if found == checkout.name else f"main-{found.split()[0]}"


def command(argv: list[str] | None = None) -> str:
    """How this run was started, as ``python -m benchmarks.MODULE ARGS``, with every absolute
    path given as an argument replaced by what it stands for (``CHECKOUT`` for an earlier
    lockgate, else ``PATH``): where a machine keeps things is not part of the result."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).resolve()
    try:
        module = ".".join(script.relative_to(RESULTS.parents[1]).with_suffix("").parts)
    except ValueError:
        module = script.stem
    args: list[str] = []
    for arg in argv[1:]:
        option, equals, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value.startswith("/"):
            flag = option or (args[-1] if args else "")
            placeholder = "CHECKOUT" if flag == "--baseline" else "PATH"
            arg = f"{option}={placeholder}" if equals else placeholder
        args.append(arg)
    return " ".join(["python -m", module, *args])


def write(name: str, payload: Mapping[str, Any], *, packages: tuple[str, ...] = ()) -> Path:
    """Write ``results/NAME.json`` atomically: ``payload`` plus machine, versions and command."""
    OUT.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "command": command(),
        "machine": machine(),
        "versions": versions("lockgate", *packages),
        **payload,
    }
    target = OUT / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=OUT, prefix=f".{name}-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a result file is for everyone to read
    os.replace(tmp, target)
    return target
