"""One way to tell a user what is wrong with a config: a pydantic ``ValidationError`` becomes one
line per problem, each naming where (``file:line:col`` when the source positions are known, else
the caller's prefix) and the field path, the first problem leading and the others counted after it,
so none is hidden.

Every config lockgate reads goes through :func:`describe_validation_error`: ``lockgate.yaml``, the
stages' ``with:`` blocks, delivery settings, verify policies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    patterns: Mapping[str, str] | None = None,
) -> str:
    """``exc`` as one located message.

    ``prefix`` opens the message when there are no ``positions`` (e.g. ``"delivery.yaml: "``,
    ``"train stage "``); ``root`` is where the validated mapping sits (``("with",)``), ``top``
    names it when it is the root itself. ``hint`` (what to read or do) closes the message.
    With ``positions``, every problem starts with its own ``file:line:col``. ``clean_loc`` drops
    what pydantic puts into a location that the user's file does not have (union tags, aliases);
    ``known_keys(parent)`` lists the keys allowed at ``parent`` for a did-you-mean (by default
    read from ``model``, the model that was validated); ``key_rule`` says what a valid mapping key
    looks like when one is refused, ``patterns`` what a value refused by a regular expression
    should look like (pattern -> rule), so nobody is shown a regular expression.

    Pydantic's words for shapes (tuple, dictionary, instance of a class) become the user's: a list,
    a mapping; a value a union refuses in every form is one problem, not one per form; a required
    key that is missing because it was misspelled is the misspelling's problem alone.
    """
    if known_keys is None and model is not None:
        known_keys = model_keys(model)
    rules = _Rules(known_keys, key_rule, dict(patterns or {}))

    def located(err: Mapping[str, Any]) -> tuple[Loc, Mapping[str, Any]]:
        loc: Loc = tuple(err["loc"])
        return (clean_loc(loc) if clean_loc is not None else loc), err

    errors = _merge_shapes(_misspelled_first([located(e) for e in exc.errors(include_url=False)]))
    lines = [_describe(err, loc, root, top, positions, rules) for loc, err in errors]
    head = lines[0] if positions is not None else prefix + lines[0]
    if len(lines) > 1:
        head += f" (and {len(lines) - 1} more: " + "; ".join(lines[1 : 1 + LISTED])
        head += ", ..." if len(lines) > 1 + LISTED else ""
        head += ")"
    return head + hint


@dataclass(frozen=True)
class _Rules:
    known_keys: Callable[[Loc], Sequence[str]] | None
    key_rule: str
    patterns: dict[str, str]


# pydantic's error types for a value of the wrong shape -> what the user should write instead
# (its own words stay for a single scalar: "Input should be a valid integer" reads well)
SHAPES = {
    "tuple_type": "a list",
    "list_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
_SHAPE_LIST = "a list"
_SHAPE_MAPPING = "a mapping"
_MAX_KEYS_SHOWN = 6


def _misspelled_first(
    errors: list[tuple[Loc, Mapping[str, Any]]],
) -> list[tuple[Loc, Mapping[str, Any]]]:
    """Drop "required key is missing" for a key that an unknown key beside it misspells (the
    unknown key's did-you-mean says it), and put that unknown key first."""
    import difflib

    misspelled: dict[Loc, int] = {}
    for i, (loc, err) in enumerate(errors):
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            missing = [
                str(m[-1]) for m, e in errors if e["type"] == "missing" and m[:-1] == loc[:-1] and m
            ]
            close = difflib.get_close_matches(loc[-1], missing, n=1, cutoff=0.6)
            if close:
                misspelled[(*loc[:-1], close[0])] = i
    if not misspelled:
        return errors
    first = [errors[i] for i in sorted(misspelled.values())]
    rest = [
        (loc, err)
        for i, (loc, err) in enumerate(errors)
        if i not in misspelled.values() and not (err["type"] == "missing" and loc in misspelled)
    ]
    return first + rest


def _merge_shapes(
    errors: list[tuple[Loc, Mapping[str, Any]]],
) -> list[tuple[Loc, Mapping[str, Any]]]:
    """One problem for a value that every member of a union refused for its shape (``run: 5`` is
    neither a list nor a string): its error carries every shape, ``a list or a string``."""
    out: list[tuple[Loc, Mapping[str, Any]]] = []
    for loc, err in errors:
        if out and out[-1][0] == loc and err["type"] in SHAPES:
            last = out[-1][1]
            if last["type"] in SHAPES or last["type"] == "shapes":
                shapes = last["shapes"] if "shapes" in last else [SHAPES[last["type"]]]
                merged = {**last, "type": "shapes", "shapes": [*shapes, SHAPES[err["type"]]]}
                out[-1] = (loc, merged)
                continue
        out.append((loc, err))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _flow_item(text: str) -> str:
    """``text`` as an item of a YAML flow list: plain when YAML reads it back as that string,
    else double-quoted (``*.py`` would be an alias, ``1`` a number)."""
    import json
    import re

    from lockgate.spec.yamlcore import resolve_plain

    plain = re.fullmatch(r"[A-Za-z0-9_/.][A-Za-z0-9_/. -]*", text) and not text.endswith(" ")
    return text if plain and resolve_plain(text) == text else json.dumps(text)


def _wrong_shape(err: Mapping[str, Any], loc: Loc, rules: _Rules) -> str:
    """``must be a list, not 'a'; write it as a list: needs: [a]``, and the like."""
    import re

    shapes = list(dict.fromkeys(err["shapes"] if "shapes" in err else [SHAPES[err["type"]]]))
    value = err["input"]
    expected = " or ".join(shapes)
    message = f"must be {expected}, not {_shown(value)}"
    key = loc[-1] if loc and isinstance(loc[-1], str) else None
    if shapes[0] == _SHAPE_LIST and isinstance(value, str) and key:
        return f"{message}; write it as a list: {key}: [{_flow_item(value)}]"
    if shapes == [_SHAPE_MAPPING] and isinstance(value, str):
        spaced = re.fullmatch(r"([\w.-]+):(\S.*)", value)
        if spaced:
            return f"{message}; put a space after the colon: {spaced[1]}: {spaced[2]}"
    if shapes == [_SHAPE_MAPPING] and rules.known_keys is not None:
        keys = list(rules.known_keys(loc))
        if 0 < len(keys) <= _MAX_KEYS_SHOWN:
            return f"{message} (keys: {', '.join(keys)})"
    return message


def _describe(
    err: Mapping[str, Any],
    loc: Loc,
    root: Loc,
    top: str,
    positions: Positions | None,
    rules: _Rules,
) -> str:
    def at(here: Loc, *, key: bool = False) -> str:
        field = dotted((*root, *here)) or top
        if positions is None:
            return field
        return f"{positions.where((*root, *here), key=key)}: {field}"

    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        hint = _did_you_mean(key, loc[:-1], rules.known_keys)
        return f"{at(loc, key=True)}: unknown key {key!r}{hint}"
    if "[key]" in loc:
        loc = loc[: loc.index("[key]")]
        rule = rules.key_rule or err["msg"].removeprefix("Value error, ")
        return f"{at(loc, key=True)}: invalid name {loc[-1]!r}: {rule}"
    if kind == "shapes" or SHAPES.get(kind) in (_SHAPE_LIST, _SHAPE_MAPPING):
        return f"{at(loc)}: {_wrong_shape(err, loc, rules)}"
    if kind == "too_short" and isinstance(err["input"], dict | list | tuple) and not err["input"]:
        n = err.get("ctx", {}).get("min_length", 1)
        noun = ("entry", "entries") if isinstance(err["input"], dict) else ("item", "items")
        return f"{at(loc)}: is empty; give at least {n} {noun[n != 1]}"
    pattern = err.get("ctx", {}).get("pattern") if kind == "string_pattern_mismatch" else None
    if pattern in rules.patterns:
        return f"{at(loc)}: invalid name {err['input']!r}: {rules.patterns[pattern]}"
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
