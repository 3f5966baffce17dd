"""Seeded mutations of real specs, and ``lockgate validate`` run on each in-process, for the fuzz
test and benchmarks/spec_fuzz.py.

A mutant is the text of one reference spec or example changed by one to three edits that users
and hostile files make: lines dropped, doubled, swapped or re-indented, characters YAML cares
about inserted, values replaced by ones that read oddly in YAML (``on``, ``0x10``, ``1:20``, tags,
aliases, huge numbers, deep brackets), merge keys and list keys inserted, lines spliced in from
another spec. The same seed gives the same mutants.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import random
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lockgate.commands import COMMANDS, dispatch
from lockgate.errors import LockgateError

REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted(
    [
        *REPO.glob("pipelines/*/lockgate.yaml"),
        *REPO.glob("tests/spec/examples/good/*.yaml"),
        *REPO.glob("tests/spec/examples/bad/*.yaml"),
    ]
)

ODD_VALUES = [
    "-1", "true", "on", "yes", "no", "null", "~", "''", '""', "0x10", "0o17", "1:20", "1e400",
    ".inf", ".nan", "9" * 4301, "2024-01-01", "!foo x", "!!python/object:os.system x",
    "!!python/object/apply:os.system [id]", "!!int abc", "!!bool maybe", "!!timestamp x",
    "!!binary aGk=", "!!set {a}", "!!str 5", "! 5", "*a", "&a x", "*nope", "[]", "{}", "[[[[",
    "{a: [b, {c: d}]}", "'../../etc/passwd'", "/etc/passwd", "/dev/zero", "/bin/sh", "'\\0'",
    '"\\x00"', '"\\ud800"', "x" * 100_000, "all", "lockgate/train", "lockgate/nope", "'  '",
    "[python3, train.py]", "30m", "1h30m", "2d", "-5s", "99999999999999999999d", "|\n  block",
]  # fmt: skip
SNIPPETS = [
    "<<: 5",
    "<<: *a",
    "<<: [*a, 3]",
    "? [a, b]\n: 1",
    "? {a: 1}\n: 2",
    "x: &a {timeout: 10}",
    "x: &a [*a]",
    "x: " + "[" * 600 + "]" * 600,
    "x: " + "{a: " * 200 + "1" + "}" * 200,
    "---",
    "%YAML 1.1\n---",
    "%TAG ! tag:example.com,2000:\n---",
    "&r x: *r",
    "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]\n" for i in range(1, 9)),
]
YAML_CHARS = ":{}[],&*!|>'\"%@`#-? \t\n\\\x00\x07\u2028\ufeff"
KEYS = ["needs", "needz", "gpu", "env", "outputs", "with", "run", "uses", "image", "base", "<<",
        "on", "yes", "0x10", "1:20", "True", "~", "secrets", "file", "timeout", "stages"]  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    number: int
    source: str  # the corpus file, relative to the repository
    edits: tuple[str, ...]
    text: str


def mutants(seed: int, count: int) -> Iterator[Mutant]:
    rng = random.Random(seed)
    texts = [(str(p.relative_to(REPO)), p.read_text()) for p in CORPUS]
    for number in range(count):
        source, text = rng.choice(texts)
        edits = []
        for _ in range(rng.randint(1, 3)):
            name, edit = rng.choice(EDITS)
            text = edit(rng, text, texts)
            edits.append(name)
        yield Mutant(number, source, tuple(edits), text)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _drop_line(rng: random.Random, text: str, _: object) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _double_line(rng: random.Random, text: str, _: object) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str, _: object) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _reindent(rng: random.Random, text: str, _: object) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = rng.choice(["  ", " ", "\t"]) + lines[i] if rng.random() < 0.5 else lines[i][2:]
    return "\n".join(lines)


def _insert_char(rng: random.Random, text: str, _: object) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(YAML_CHARS) + text[i:]


def _cut_span(rng: random.Random, text: str, _: object) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + text[i + rng.randint(1, 20) :]


_VALUE = re.compile(r"(?<=: )[^\n]+|(?<=- )[^\n]+|(?<=\[)[^\],\n]+|(?<=, )[^\],\n]+")
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_<-]+):", re.M)


def _odd_value(rng: random.Random, text: str, _: object) -> str:
    spots = list(_VALUE.finditer(text))
    if not spots:
        return text
    m = rng.choice(spots)
    return text[: m.start()] + rng.choice(ODD_VALUES) + text[m.end() :]


def _odd_key(rng: random.Random, text: str, _: object) -> str:
    spots = list(_KEY.finditer(text))
    if not spots:
        return text
    m = rng.choice(spots)
    return text[: m.start(2)] + rng.choice(KEYS) + text[m.end(2) :]


def _snippet(rng: random.Random, text: str, _: object) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines) + 1)
    indent = re.match(r"\s*", lines[i - 1] if i else "")
    pad = indent.group(0) if indent else ""
    block = "\n".join(pad + line for line in rng.choice(SNIPPETS).split("\n"))
    return "\n".join([*lines[:i], block, *lines[i:]])


def _splice(rng: random.Random, text: str, others: list[tuple[str, str]]) -> str:
    lines = _lines(text)
    other = _lines(rng.choice(others)[1])
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(other))
    return "\n".join(lines)


EDITS = [
    ("drop-line", _drop_line),
    ("double-line", _double_line),
    ("swap-lines", _swap_lines),
    ("reindent", _reindent),
    ("insert-char", _insert_char),
    ("cut-span", _cut_span),
    ("odd-value", _odd_value),
    ("odd-key", _odd_key),
    ("snippet", _snippet),
    ("splice", _splice),
]


class Hang(BaseException):
    """Validation ran past its time limit (a BaseException, so no handler can swallow it)."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok", "refused", "internal", "hang"
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: what a busy machine does not inflate
    detail: str  # the refusal's message, or the traceback of an internal error


WALL_FACTOR = 12  # a wait that never ends (a read) is caught at this many times the CPU limit


def through_dispatch(spec: Path) -> None:
    """``lockgate validate --spec SPEC`` as the CLI's own dispatch runs it."""
    dispatch(["validate", "--spec", str(spec)])


@functools.cache
def _validate_parser() -> argparse.ArgumentParser:
    from lockgate.commands import validate as command

    parser = argparse.ArgumentParser(prog="lockgate validate", description=COMMANDS["validate"][1])
    command.add_arguments(parser)
    return parser


def through_command(spec: Path) -> None:
    """The same command, its parser built once: what ``dispatch`` does after it has picked the
    command, without rebuilding the top-level parser (a parser for each of the CLI's commands)
    on every call. The argv is the same for every mutant but the file name, so a fuzz run spends
    its time on the spec instead: dispatch is ~3 of the ~5 ms of each validation."""
    from lockgate.commands import validate as command

    command.run(_validate_parser().parse_args(["--spec", str(spec)]))


def validate(spec: Path, limit_s: float, run: Callable[[Path], None] = through_dispatch) -> Outcome:
    """``lockgate validate --spec SPEC`` run by ``run``, in this process.

    Exceptions outside the LockgateError family are what ``lockgate`` reports as internal errors
    (exit 3). A hang is ``limit_s`` of CPU time (a loop that never ends), or ``WALL_FACTOR``
    times that on the wall clock (a wait that never ends): CPU time, because a shared machine's
    load stretches the wall-clock time of a validation that is merely slow."""

    def _stop(signum: int, frame: object) -> None:
        raise Hang

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGPROF, signal.SIGALRM)}
    out, err = io.StringIO(), io.StringIO()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        signal.setitimer(signal.ITIMER_PROF, limit_s)
        signal.setitimer(signal.ITIMER_REAL, limit_s * WALL_FACTOR)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run(spec)
        kind, detail = "ok", ""
    except LockgateError as exc:
        kind, detail = "refused", str(exc)
    except Hang:
        kind, detail = "hang", f"no answer within {limit_s} s of CPU time"
    except Exception:  # what lockgate would report as an internal error
        kind, detail = "internal", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return Outcome(kind, time.perf_counter() - start, time.process_time() - cpu_start, detail)
