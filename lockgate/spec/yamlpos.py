"""Read YAML into plain Python values while remembering where every key and value stood.

libyaml parses; :mod:`lockgate.spec.yamlcore` builds the values from its events, so that a later
validation error can be reported as ``file:line:col``. Duplicate keys, which YAML libraries
usually let the last one win, are refused.
"""

from __future__ import annotations

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
    texts: dict[Loc, str] = field(default_factory=dict)  # scalars YAML read as non-strings

    def text(self, loc: Loc, value: object) -> str:
        """A value as the user wrote it: ``0x10`` rather than ``16``, ``~`` rather than None."""
        return self.texts.get(loc, str(value))

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


def load_yaml(text: str, source: str) -> tuple[Any, Positions]:
    """Parse ``text``; return the plain value and the positions of everything in it."""
    import yaml

    from lockgate.spec.yamlcore import MAX_BYTES, compose

    positions = Positions(source)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise SpecError(f"{source}: {size:,} bytes; a spec may be at most {MAX_BYTES:,} bytes")
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            return compose(loader, positions), positions
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpecError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        index = exc.position
        if hasattr(yaml, "CSafeLoader"):  # libyaml counts bytes of UTF-8, not characters
            index = len(text.encode("utf-8", "surrogatepass")[:index].decode("utf-8", "ignore"))
        raise SpecError(f"{_at_index(text, index, source)}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: invalid YAML: {exc}") from None
    except UnicodeEncodeError as exc:
        where = _at_index(text, exc.start, source)
        raise SpecError(f"{where}: not valid text ({exc.reason})") from None


def _at_index(text: str, index: int, source: str) -> str:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{source}:{line}:{col}"


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def read_spec_text(path: Path) -> str:
    from lockgate.spec.yamlcore import MAX_BYTES

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(f"{path}: {size:,} bytes; a spec may be at most {MAX_BYTES:,} bytes")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such file; create one (see `lockgate schema`) or pass --spec PATH"
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
