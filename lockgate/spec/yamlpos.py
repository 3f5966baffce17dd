"""Read YAML into plain Python values while remembering where every key and value stood.

PyYAML's composer (the C one when available) gives each node its start mark; we convert the node
tree ourselves so that a later validation error can be reported as ``file:line:col``. Duplicate
keys, which YAML libraries usually let the last one win, are refused here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.errors import SpecError

Loc = tuple[str | int, ...]


@dataclass
class Positions:
    """``path -> (line, col)``, 1-based; keys are stored under ``path + ("<key>",)``."""

    source: str
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def of(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """The closest known position to ``loc`` (walking up to a parent if needed)."""
        table = self.keys if key else self.values
        for depth in range(len(loc), -1, -1):
            here = loc[:depth]
            if here in table:
                return table[here]
            if here in self.keys:
                return self.keys[here]
        return (1, 1)

    def where(self, loc: Loc, *, key: bool = False) -> str:
        line, col = self.of(loc, key=key)
        return f"{self.source}:{line}:{col}"


def _loader_class() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, source: str) -> tuple[Any, Positions]:
    """Parse ``text``; return the plain value and the positions of everything in it."""
    import yaml

    positions = Positions(source)
    try:
        loader = _loader_class()(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpecError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: invalid YAML: {exc}") from None
    if node is None:
        return None, positions
    return _convert(node, (), positions), positions


def _convert(node: Any, loc: Loc, positions: Positions) -> Any:
    import yaml

    positions.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in _merged(node):
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool):
                where = f"{positions.source}:{key_node.start_mark.line + 1}"
                raise SpecError(f"{where}: mapping keys must be plain scalars")
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                raise SpecError(
                    f"{positions.source}:{line}:{col}: {_dotted((*loc, key))}: duplicate key "
                    f"{key!r} (the first one is at line {positions.keys[(*loc, key)][0]})"
                )
            positions.keys[(*loc, key)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = _convert(value_node, (*loc, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), positions) for i, item in enumerate(node.value)]
    return _scalar(node)


def _merged(node: Any) -> Iterator[tuple[Any, Any]]:
    """The pairs of a mapping with YAML merge keys (``<<: *anchor``) applied."""
    _constructor().flatten_mapping(node)
    yield from node.value


@functools.cache
def _constructor() -> Any:
    import yaml

    return yaml.SafeLoader("")


def _scalar(node: Any) -> Any:
    return _constructor().construct_object(node, deep=True)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def read_spec_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such file; create one (see `lockgate schema`) or pass --spec PATH"
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
