"""Load ``lockgate.yaml`` into a ``Pipeline``, or fail with ``file:line:col: path: message``."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import SpecError
from lockgate.spec.config_errors import describe_validation_error
from lockgate.spec.keys import (
    KMS_SCHEMES,
    credential_problem,
    is_envelope,
    kms_refusal,
    minting_problem,
    uri_problem,
)
from lockgate.spec.yamlpos import Loc, Positions, dotted, load_yaml, read_spec_text

if TYPE_CHECKING:
    from lockgate.spec.models import Encryption, Pipeline

SPEC_FILE = "lockgate.yaml"
NAME_RULE = (
    "use lowercase letters, digits, '-' and '_' (at most 63, starting with a letter or digit)"
)
SKELETON = (
    "start from `version: 1`, `name: NAME`, `image: {base: IMAGE}` and `stages:` with one stage "
    "that has `run:` (docs/spec.md; `lockgate schema` for editor completion)"
)


def find_spec(start: Path | None = None) -> Path:
    """``lockgate.yaml`` in ``start`` or the nearest parent folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / SPEC_FILE
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):  # there, but a folder, a broken link or a link loop
            return candidate  # reading it says which, and what to do
    raise SpecError(
        f"no {SPEC_FILE} in {here} or any parent folder; run lockgate in the project's folder "
        "or pass --spec PATH"
    )


def spec_path(given: Path | None) -> Path:
    """The spec a command reads: ``--spec`` as an absolute path, or the one :func:`find_spec`
    finds."""
    if given is None:
        return find_spec()
    try:
        return given.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13)
        raise SpecError(
            f"{given}: a symbolic link that leads back to itself (a loop); point it at the spec "
            "file"
        ) from None


def load_spec(path: Path) -> Pipeline:
    """Read, parse and validate the spec at ``path``; return a frozen ``Pipeline``."""
    text = read_spec_text(path)
    return parse_spec(text, str(path))


def parse_spec(text: str, source: str) -> Pipeline:
    from pydantic import ValidationError

    from lockgate.spec.checks import check_values
    from lockgate.spec.models import NAME, Pipeline

    raw, positions = load_yaml(text, source)
    if raw is None:
        raise SpecError(f"{source}:1:1: the file holds no spec; {SKELETON}")
    if not isinstance(raw, dict):
        raise SpecError(f"{source}:1:1: the spec must be a mapping; {SKELETON}")
    check_values(raw, positions)
    try:
        pipeline = Pipeline.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            describe_validation_error(
                exc,
                positions=positions,
                clean_loc=_clean_loc,
                model=Pipeline,
                key_rule=NAME_RULE,
                patterns={NAME: NAME_RULE},
            )
        ) from None
    _check_references(pipeline, positions)
    return pipeline


def _is_union_tag(part: Any) -> bool:
    """pydantic puts the union member's type name into ``loc``; a user's file has no such key."""
    return isinstance(part, str) and (
        part in {"str", "int", "list[str]", "literal['all']"}
        or part.startswith(("tuple[", "function-", "literal[", "Runner", "Branches"))
    )


def _clean_loc(loc: Loc) -> Loc:
    """No union tags; ``with`` as the user writes it, not its Python name ``with_``."""
    return tuple("with" if p == "with_" else p for p in loc if not _is_union_tag(p))


def _check_references(pipeline: Pipeline, positions: Positions) -> None:
    """Cross-field rules pydantic cannot see: needs, cycles, secrets, uses, environments."""
    from lockgate.stages import BUILTIN_STAGES

    names = list(pipeline.stages)
    for name, stage in pipeline.stages.items():
        for i, need in enumerate(stage.needs):
            loc: Loc = ("stages", name, "needs", i)
            if need not in pipeline.stages:
                others = [n for n in names if n != name]
                hint = _suggest(need, others) or f" (the other stages: {_listed(others)})"
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: unknown stage {need!r}{hint}"
                )
            if need == name:
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: a stage cannot need itself"
                )
        for i, secret in enumerate(stage.secrets):
            if secret not in pipeline.secrets:
                loc = ("stages", name, "secrets", i)
                hint = _suggest(secret, list(pipeline.secrets))
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: secret {secret!r} is not declared "
                    f"under top-level `secrets:`{hint}"
                )
        if stage.uses is not None:
            loc = ("stages", name, "uses")
            builtin = stage.uses.removeprefix("lockgate/")
            if not stage.uses.startswith("lockgate/") or builtin not in BUILTIN_STAGES:
                hint = _suggest(builtin, list(BUILTIN_STAGES), prefix="lockgate/")
                known = ", ".join(f"lockgate/{n}" for n in sorted(BUILTIN_STAGES)) or "none yet"
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: unknown built-in stage "
                    f"{stage.uses!r}{hint or f' (known: {known})'}"
                )
        if stage.environment is not None:
            envs = [e.name for e in pipeline.environments]
            if stage.environment not in envs:
                loc = ("stages", name, "environment")
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: unknown environment "
                    f"{stage.environment!r}{_suggest(stage.environment, envs)}"
                )
    seen: set[str] = set()
    for i, env in enumerate(pipeline.environments):
        if env.name in seen:
            loc = ("environments", i, "name")
            raise SpecError(
                f"{positions.where(loc)}: {dotted(loc)}: duplicate environment {env.name!r}"
            )
        seen.add(env.name)
        for j, approver in enumerate(env.approvers):
            if approver.startswith("@") and approver[1:] not in pipeline.groups:
                loc = ("environments", i, "approvers", j)
                raise SpecError(
                    f"{positions.where(loc)}: {dotted(loc)}: group {approver[1:]!r} is not defined "
                    f"under top-level `groups:`{_suggest(approver[1:], list(pipeline.groups))}"
                )
    if pipeline.encryption is not None:
        _check_encryption(pipeline.encryption, list(pipeline.secrets), positions)
    cycle = find_cycle({n: list(s.needs) for n, s in pipeline.stages.items()})
    if cycle:
        loc = ("stages", cycle[0], "needs")
        raise SpecError(f"{positions.where(loc)}: stages: dependency cycle {' -> '.join(cycle)}")


def _check_encryption(encryption: Encryption, secrets: list[str], positions: Positions) -> None:
    key, loc = encryption.key, ("encryption", "key")
    malformed = uri_problem(key)
    if malformed:
        raise SpecError(f"{positions.where(loc)}: {dotted(loc)}: {malformed}")
    problem = credential_problem(key, encryption.credentials)
    if problem:
        at: Loc = ("encryption", "credentials") if encryption.credentials else loc
        raise SpecError(f"{positions.where(at)}: {dotted(at)}: {problem}")
    for name, secret in encryption.credentials.items():
        if secret not in secrets:
            cred: Loc = ("encryption", "credentials", name)
            raise SpecError(
                f"{positions.where(cred)}: {dotted(cred)}: secret {secret!r} is not declared under "
                f"top-level `secrets:`{_suggest(secret, secrets)}"
            )
    if encryption.ca_file is not None and not is_envelope(key):
        at_ca: Loc = ("encryption", "ca_file")
        raise SpecError(
            f"{positions.where(at_ca)}: {dotted(at_ca)}: only a KMS key (awskms://, gcpkms://, "
            "azurekms://, hashivault://) is reached over TLS; remove ca_file"
        )
    minting = minting_problem(
        key,
        encryption.stage_credentials,
        encryption.role_arn,
        encryption.sts_endpoint,
        encryption.vault_policies,
        encryption.service_account,
    )
    if minting:
        at_mint: Loc = ("encryption", minting[0])
        raise SpecError(f"{positions.where(at_mint)}: {dotted(at_mint)}: {minting[1]}")
    if is_envelope(key):
        return
    if key.startswith(KMS_SCHEMES):
        raise SpecError(f"{positions.where(loc)}: {dotted(loc)}: {kms_refusal(key)}")
    if not key.startswith("file:") and key not in secrets:
        raise SpecError(
            f"{positions.where(loc)}: {dotted(loc)}: secret {key!r} is not declared under "
            f"top-level `secrets:`{_suggest(key, secrets)} (or use file:PATH for a key file)"
        )


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle as ``[a, b, ..., a]``, or ``[]`` when the graph is acyclic.

    Depth-first with an explicit stack, so a chain of thousands of stages cannot exhaust
    Python's recursion limit."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if root in state:
            continue
        path: list[str] = [root]
        pending = [iter(graph.get(root, ()))]
        state[root] = 1
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(graph.get(nxt, ())))
    return []


def _listed(names: list[str], shown: int = 20) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return (", ".join(names[:shown]) + more) or "none"


def _suggest(word: str, choices: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {prefix + close[0]!r}?" if close else ""
