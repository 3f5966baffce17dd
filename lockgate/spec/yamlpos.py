"""Read YAML into plain Python values while remembering where every key and value stood.

libyaml parses; :mod:`lockgate.spec.yamlcore` builds the values from its events, so that a later
validation error can be reported as ``file:line:col``. Duplicate keys, which YAML libraries
usually let the last one win, are refused.
"""

from __future__ import annotations

import os
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
        problem = str(exc.problem or exc.context)
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            problem = "a tab character; YAML indents with spaces only: replace the tab with spaces"
        else:
            problem += HINTS.get(problem, "")
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
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


_COLON = (
    " (a value that holds ': ' must be quoted, e.g. run: \"echo a: b\"; or this line is "
    "indented deeper than the key above it)"
)
# libyaml's words for the mistakes people make most when writing YAML by hand -> what to do
HINTS = {
    "did not find expected key": (
        " (check this line's indentation: the keys of one mapping start in the same column, "
        "and a list item under a key starts with '- ')"
    ),
    "mapping values are not allowed here": _COLON,
    "mapping values are not allowed in this context": _COLON,  # libyaml's C reader
    "did not find expected '-' indicator": (
        " (the items of one list start with '- ' in the same column)"
    ),
}


def _char_at(text: str, line: int, column: int) -> str:
    """The character at a libyaml mark (0-based line and column, columns in characters)."""
    lines = text.split("\n")
    return lines[line][column : column + 1] if line < len(lines) else ""


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
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: {not_a_spec_file(path, exc)}") from None
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is not None:
        raise SpecError(f"{path}: saved as {encoding}; save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _at_index(data[: exc.start].decode("utf-8"), exc.start, str(path))
        raise SpecError(
            f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    # as Path.read_text does: Windows (CRLF) and old Mac (CR) line ends read as \n
    return text.replace("\r\n", "\n").replace("\r", "\n")


# byte-order marks of the encodings a spec is sometimes saved in by mistake (UTF-32 first: its
# little-endian mark begins with UTF-16's)
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def not_a_spec_file(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be read as a spec, and what to pass instead."""
    import errno

    if exc.errno == errno.ENOENT and path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}, which does not exist; fix the link"
    if exc.errno == errno.ENOENT:
        return "no such file; create one (see docs/spec.md) or pass --spec PATH"
    if exc.errno == errno.ELOOP:
        return "a symbolic link that leads back to itself (a loop); point it at the spec file"
    if exc.errno == errno.EISDIR:
        inside = path / "lockgate.yaml"
        hint = f"pass --spec {inside}" if inside.is_file() else "pass the spec file: --spec PATH"
        return f"a folder, not a spec file; {hint}"
    return f"cannot read: {exc.strerror}"
