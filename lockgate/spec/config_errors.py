"""One way to tell a user what is wrong with a config: a pydantic ``ValidationError`` becomes one
line per problem, each naming where (``file:line:col`` when the source positions are known, else
the caller's prefix) and the field path, the first problem leading and the others counted after it,
so none is hidden.

Every config lockgate reads goes through :func:`describe_validation_error`: ``lockgate.yaml``, the
stages' ``with:`` blocks, delivery settings, verify policies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.spec.yamlpos import Loc, Positions, dotted

if TYPE_CHECKING:
    from pydantic import ValidationError

LISTED = 3  # problems spelled out after the first; the rest are counted


def describe_validation_error(
    exc: ValidationError,
    *,
    prefix: str = "",
    root: Loc = (),
    top: str = "(top)",
    hint: str = "",
    positions: Positions | None = None,
    model: type[Any] | None = None,
    clean_loc: Callable[[Loc], Loc] | None = None,
    known_keys: Callable[[Loc], Sequence[str]] | None = None,
    key_rule: str = "",
) -> str:
    """``exc`` as one located message.

    ``prefix`` opens the message when there are no ``positions`` (e.g. ``"delivery.yaml: "``,
    ``"train stage "``); ``root`` is where the validated mapping sits (``("with",)``), ``top``
    names it when it is the root itself. ``hint`` (what to read or do) closes the message.
    With ``positions``, every problem starts with its own ``file:line:col``. ``clean_loc`` drops
    what pydantic puts into a location that the user's file does not have (union tags, aliases);
    ``known_keys(parent)`` lists the keys allowed at ``parent`` for a did-you-mean (by default
    read from ``model``, the model that was validated); ``key_rule`` says what a valid mapping key
    looks like when one is refused.
    """
    if known_keys is None and model is not None:
        known_keys = model_keys(model)

    def describe(err: Mapping[str, Any]) -> str:
        loc: Loc = tuple(err["loc"])
        if clean_loc is not None:
            loc = clean_loc(loc)
        return _describe(err, loc, root, top, positions, known_keys, key_rule)

    lines = [describe(err) for err in exc.errors(include_url=False)]
    head = lines[0] if positions is not None else prefix + lines[0]
    if len(lines) > 1:
        head += f" (and {len(lines) - 1} more: " + "; ".join(lines[1 : 1 + LISTED])
        head += ", ..." if len(lines) > 1 + LISTED else ""
        head += ")"
    return head + hint


def _describe(
    err: Mapping[str, Any],
    loc: Loc,
    root: Loc,
    top: str,
    positions: Positions | None,
    known_keys: Callable[[Loc], Sequence[str]] | None,
    key_rule: str,
) -> str:
    def at(here: Loc, *, key: bool = False) -> str:
        field = dotted((*root, *here)) or top
        if positions is None:
            return field
        return f"{positions.where((*root, *here), key=key)}: {field}"

    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        return f"{at(loc, key=True)}: unknown key {key!r}{_did_you_mean(key, loc[:-1], known_keys)}"
    if "[key]" in loc:
        loc = loc[: loc.index("[key]")]
        rule = key_rule or err["msg"].removeprefix("Value error, ")
        return f"{at(loc, key=True)}: invalid name {loc[-1]!r}: {rule}"
    if kind == "missing" and loc:
        if positions is None:
            return f"{at(loc)}: required key is missing"
        where = positions.where((*root, *loc[:-1]))
        return f"{where}: {dotted((*root, *loc))}: required key is missing"
    return f"{at(loc)}: {err['msg'].removeprefix('Value error, ')}"


def _did_you_mean(key: str, parent: Loc, known_keys: Callable[[Loc], Sequence[str]] | None) -> str:
    import difflib

    known = list(known_keys(parent)) if known_keys is not None else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(sorted(known))}" if known else ""


def model_keys(model: type[Any]) -> Callable[[Loc], list[str]]:
    """``known_keys`` for a pydantic model: the keys its fields accept at a location, found by
    walking the field types (through lists, mappings, optionals and unions of models)."""

    def keys(parent: Loc) -> list[str]:
        found: list[Any] = [model]
        for part in parent:
            found = [inner for kind in found for inner in _step(kind, part)]
        return sorted({key for kind in found for key in _fields(kind)})

    return keys


def _fields(kind: Any) -> list[str]:
    fields = getattr(kind, "model_fields", None) if isinstance(kind, type) else None
    return [field.alias or name for name, field in (fields or {}).items()]


def _step(kind: Any, part: str | int) -> list[Any]:
    """The types found one level inside ``kind`` at ``part``."""
    import typing

    fields = getattr(kind, "model_fields", None) if isinstance(kind, type) else None
    if fields is not None:
        for name, field in fields.items():
            if part in (name, field.alias):
                return _unwrap(field.annotation)
        return []
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is None or not args:
        return []
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return _unwrap(args[-1])
    if isinstance(origin, type) and issubclass(origin, (list, tuple, set, frozenset, Sequence)):
        return _unwrap(args[0])
    return []


def _unwrap(kind: Any) -> list[Any]:
    """``kind`` without Annotated/Optional wrappers; each member of a union."""
    import types
    import typing

    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(kind)[0])
    if origin in (typing.Union, types.UnionType):
        return [inner for arg in typing.get_args(kind) for inner in _unwrap(arg)]
    return [kind]
