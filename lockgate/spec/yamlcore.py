"""Turn YAML text into plain values under the YAML core schema, within fixed limits.

We walk libyaml's event stream ourselves instead of letting a YAML library construct objects:
nothing but strings, integers, floats, booleans, null, lists and mappings can come out; any other
tag is an error that names its place; and a file cannot make us spend more than a bounded amount
of time or memory (alias bombs, recursive aliases, deep nesting, huge numbers). Keys are kept as
written, so a stage called ``on`` or ``0x10`` keeps that name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockgate.errors import SpecError

if TYPE_CHECKING:
    from lockgate.spec.yamlpos import Loc, Positions

MAX_BYTES = 4 * 1024 * 1024  # a spec file, in UTF-8
MAX_DEPTH = 64  # nested lists and mappings
MAX_VALUES = 100_000  # scalars, lists and mappings, counting every alias expansion
MAX_ALIASES = 1_000  # uses of `*anchor`
MAX_DIGITS = 100  # an integer's length as written

CORE = "tag:yaml.org,2002:"
MERGE = "<<"
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_NOT_A_KEY = "a mapping key must be a plain value such as a name, not a list or mapping"


def shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(CORE) if tag.startswith(CORE) else tag


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar under the core schema."""
    if text in _NULL:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    if _INT.fullmatch(text):
        return _integer(text)
    if _FLOAT.fullmatch(text) or _INF.fullmatch(text) or _NAN.fullmatch(text):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf"))
    return text


def _integer(text: str) -> int:
    digits = text.lstrip("+-")
    if len(digits) > MAX_DIGITS:
        raise ValueError(
            f"an integer of {len(digits)} digits is too long (at most {MAX_DIGITS}); "
            "quote it if it is text"
        )
    if digits.startswith(("0o", "0x")):
        return int(digits[2:], 8 if digits[1] == "o" else 16)
    return int(text)


def resolve_tagged(tag: str, text: str) -> Any:
    """A scalar with an explicit tag: only the core schema's own tags are accepted."""
    kind = tag.removeprefix(CORE) if tag.startswith(CORE) else None
    if tag == "!" or kind == "str":
        return text
    value = resolve_plain(text)
    if kind == "null" and value is None:
        return None
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in {"null", "bool", "int", "float"}:
        raise ValueError(f"{text!r} is not a valid {kind} for tag !!{kind}")
    raise ValueError(_unsupported(tag))


def _unsupported(tag: str) -> str:
    return (
        f"tag {shown_tag(tag)} is not supported: lockgate reads only the YAML core schema "
        "(strings, numbers, booleans, null, lists, mappings); remove the tag"
    )


@dataclass
class _Node:
    """An open list or mapping while its events arrive."""

    loc: Loc
    anchor: str | None
    start: int  # the value count when it opened; the difference is its weight
    value: Any  # list, or dict of explicit keys
    merged: list[tuple[dict[str, Any], tuple[int, int]]] = field(default_factory=list)
    key: str | None = None  # the key whose value comes next (mappings)
    merging: bool = False  # that key is a merge key: a plain `<<`


@dataclass
class _Anchor:
    value: Any
    weight: int
    text: str | None  # a scalar's text, for use as a key


class Composer:
    """Builds one document's plain value from events, recording positions as it goes."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.stack: list[_Node] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.values = 0
        self.aliases = 0
        self.root: Any = None

    def fail(self, at: tuple[int, int], loc: Loc | None, message: str) -> SpecError:
        from lockgate.spec.yamlpos import dotted

        where = f"{self.positions.source}:{at[0]}:{at[1]}"
        path = dotted(loc) if loc else ""
        return SpecError(f"{where}: {path + ': ' if path else ''}{message}")

    def _count(self, at: tuple[int, int], loc: Loc, n: int = 1) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            raise self.fail(
                at,
                loc,
                f"the file holds more than {MAX_VALUES:,} values (aliases counted as "
                "often as they are used); a spec this large is refused",
            )

    def _child_loc(self) -> Loc | None:
        """Where the next value goes; ``None`` when it is a mapping's key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.loc, len(top.value))
        return None if top.key is None else (*top.loc, top.key)

    def scalar(self, event: Any, at: tuple[int, int]) -> None:
        loc = self._child_loc()
        if loc is None:
            if event.tag is not None:
                try:
                    resolve_tagged(event.tag, event.value)
                except ValueError as exc:
                    raise self.fail(at, self.stack[-1].loc, str(exc)) from None
            self._key(event.value, at, plain=event.tag is None and event.implicit[0])
            if event.anchor:
                self.anchors[event.anchor] = _Anchor(event.value, 1, event.value)
            return
        self._count(at, loc)
        try:
            if event.tag is not None:
                value = resolve_tagged(event.tag, event.value)
            elif event.implicit[0]:
                value = resolve_plain(event.value)
            else:
                value = event.value
        except ValueError as exc:
            raise self.fail(at, loc, str(exc)) from None
        if not isinstance(value, str):
            self.positions.texts[loc] = event.value
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(value, 1, event.value)
        self._attach(value, loc, at)

    def alias(self, name: str, at: tuple[int, int]) -> None:
        loc = self._child_loc()
        if name in self.open_anchors:
            raise self.fail(at, loc, f"alias *{name} refers to a node that contains it")
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self.fail(at, loc, f"alias *{name} has no anchor &{name} before it")
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self.fail(at, loc, f"more than {MAX_ALIASES:,} aliases (*name) in one file")
        if loc is None:
            if anchor.text is None:
                raise self.fail(at, self.stack[-1].loc, _NOT_A_KEY)
            self._key(anchor.text, at, plain=True)
            return
        self._count(at, loc, anchor.weight)
        self._attach(anchor.value, loc, at)

    def start(self, event: Any, at: tuple[int, int], mapping: bool) -> None:
        loc = self._child_loc()
        if loc is None:
            raise self.fail(at, self.stack[-1].loc, _NOT_A_KEY)
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(at, None, f"lists and mappings nested deeper than {MAX_DEPTH} levels")
        kind = "map" if mapping else "seq"
        if event.tag not in (None, "!", CORE + kind):
            raise self.fail(at, loc, _unsupported(event.tag))
        self._count(at, loc)
        self.positions.values[loc] = at
        if event.anchor:
            self.open_anchors.add(event.anchor)
        value: Any = {} if mapping else []
        self.stack.append(_Node(loc, event.anchor, self.values, value))

    def end(self) -> None:
        node = self.stack.pop()
        value = node.value
        if isinstance(value, dict) and node.merged:
            value = self._merge(node)
        if node.anchor:
            self.open_anchors.discard(node.anchor)
            self.anchors[node.anchor] = _Anchor(value, self.values - node.start + 1, None)
        self._attach(value, node.loc, None)

    def _merge(self, node: _Node) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for merged, at in node.merged:  # an earlier merged mapping wins over a later one
            for key, item in merged.items():
                if key not in out and key not in node.value:
                    out[key] = item
                    self.positions.keys[(*node.loc, key)] = at
                    self.positions.values[(*node.loc, key)] = at
        out.update(node.value)  # keys written here override merged ones
        return out

    def _key(self, text: str, at: tuple[int, int], *, plain: bool) -> None:
        top = self.stack[-1]
        merging = plain and text == MERGE
        if (*top.loc, text) in self.positions.keys:
            first = self.positions.keys[(*top.loc, text)][0]
            raise self.fail(
                at, (*top.loc, text), f"duplicate key {text!r} (the first one is at line {first})"
            )
        top.key, top.merging = text, merging
        self.positions.keys[(*top.loc, text)] = at

    def _attach(self, value: Any, loc: Loc, at: tuple[int, int] | None) -> None:
        if at is not None:
            self.positions.values.setdefault(loc, at)
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
            return
        key, top.key = str(top.key), None
        if top.merging:
            top.merging = False
            self._add_merge(top, value, loc)
            return
        top.value[key] = value

    def _add_merge(self, top: _Node, value: Any, loc: Loc) -> None:
        parts = value if isinstance(value, list) else [value]
        at = self.positions.of(loc)
        if not parts or not all(isinstance(p, dict) for p in parts):
            raise self.fail(
                at, loc, "`<<` merges a mapping or a list of mappings, e.g. `<<: *base`"
            )
        top.merged.extend((p, at) for p in parts)


def compose(loader: Any, positions: Positions) -> Any:
    """Read one document's events from a libyaml ``loader``; return its plain value."""
    import yaml

    composer = Composer(positions)
    documents = 0
    while True:
        event = loader.get_event()
        at = (event.start_mark.line + 1, event.start_mark.column + 1)
        if isinstance(event, yaml.ScalarEvent):
            composer.scalar(event, at)
        elif isinstance(event, yaml.AliasEvent):
            composer.alias(event.anchor, at)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            composer.start(event, at, isinstance(event, yaml.MappingStartEvent))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            composer.end()
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise composer.fail(at, None, "a second YAML document (`---`); a spec is one")
        elif isinstance(event, yaml.StreamEndEvent):
            return composer.root
