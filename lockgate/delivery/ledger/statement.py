"""The statement a person signs to prove who acts: what the command does, in full.

It names the operation, the environment and the digest, then every term the command decides
by — a health mark, a rollback's target and emergency, an approval's lifetime, a promotion's
image, model, author and data-check — and the time. A signature over it proves that one command
and no other: a statement for another mark, target or option is refused by name.

Version 1 named no terms. Old entries keep such statements (the audit reads them as recorded);
a command now refuses one, since it does not say what the command would decide.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.errors import LockgateError

HEADER = "lockgate statement v"
CORE = ("op", "environment", "digest")


class StatementError(LockgateError):
    """A signed statement that does not name what the command decides; ``reason`` says why."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Statement:
    """What an identity is proven for: one operation on one digest in one environment, on
    ``terms`` (name, value), at ``time``."""

    op: str
    environment: str
    digest: str
    time: str
    terms: tuple[tuple[str, str], ...] = ()
    version: int = 2

    def __post_init__(self) -> None:
        for name, value in (*self.core(), *self.terms):
            if "\n" in value or "\r" in value:
                raise LockgateError(
                    f"{name} {value!r}: a signed statement holds one line per term; "
                    "give it without a line break"
                )

    def core(self) -> tuple[tuple[str, str], ...]:
        return (("op", self.op), ("environment", self.environment), ("digest", self.digest))

    def text(self) -> str:
        lines = [f"{HEADER}{self.version}", *(f"{n}: {v}" for n, v in self.core())]
        lines += [f"{name}: {value}" for name, value in self.terms]
        return "\n".join([*lines, f"time: {self.time}"]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Statement:
        lines = text.splitlines()
        version = lines[0].removeprefix(HEADER) if lines else ""
        if not lines or not lines[0].startswith(HEADER) or version not in ("1", "2"):
            raise StatementError("the signed file is not a lockgate statement")
        pairs = [(name, value) for name, _, value in (line.partition(": ") for line in lines[1:])]
        fields = dict(pairs)
        try:
            op, environment, digest, time = (fields[n] for n in (*CORE, "time"))
        except KeyError as exc:
            raise StatementError(f"the signed statement has no {exc.args[0]!r} line") from None
        terms = () if version == "1" else tuple(p for p in pairs if p[0] not in (*CORE, "time"))
        return cls(op, environment, digest, time, terms, int(version))


def mismatch(signed: Statement, wanted: Statement) -> str | None:
    """Why ``signed`` does not prove ``wanted`` (its time aside), or None when it does."""
    reuse = "a signature cannot be reused for another one"
    for (name, value), (_, want) in zip(signed.core(), wanted.core(), strict=True):
        if value != want:
            return f"the signed statement is for {name} {value}, not {want}: {reuse}"
    if signed.terms == wanted.terms:
        return None
    anew = "print the statement anew with --print-statement and sign that"
    have = dict(signed.terms)
    for name, want in wanted.terms:
        if name not in have:
            which = "is a lockgate statement v1, with" if signed.version == 1 else "has"
            return (
                f"the signed statement {which} no {name!r} line (this {wanted.op}'s is "
                f"`{name}: {want}`): {anew}"
            )
        if have[name] != want:
            return f"the signed statement is for {name} {have[name]}, not {want}: {reuse}"
    taken = dict(wanted.terms)
    extra = next((name for name, _ in signed.terms if name not in taken), None)
    if extra is not None:
        return (
            f"the signed statement names {extra} {have[extra]}, which {wanted.op} does not: {anew}"
        )
    return f"the signed statement's lines are not in the order --print-statement prints: {anew}"
