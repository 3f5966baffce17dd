"""The import-graph contract: module-level imports point down the layers, and no two files
import each other in a circle. Imports inside functions and under ``if TYPE_CHECKING:`` are lazy
and do not count. The layers (docs/design.md draws them):

    6  commands, every __main__ entry point,    the command line; nothing below imports it |
       ui                                       the read-only release page
    5  delivery, generator, ci, report          promotion and ledger | CI files | CI glue, reports
    4  stages, executors                        built-in stage programs | dagger, docker, local
    3  supply, images, serving                  cosign/trivy/registry clients | runner images |
                                                the model server baked into images
    2  engine                                   plan, cache, records, the executor protocol
    1  spec                                     lockgate.yaml models, located errors
    0  contract, errors, the package itself     the stage contract's names; the error family
                                                (and loopback: where plain HTTP may go)

A module may import its own layer or any layer below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lockgate

PACKAGE = Path(lockgate.__file__).parent

LAYERS: dict[str, int] = {
    "lockgate": 0,
    "lockgate.contract": 0,
    "lockgate.errors": 0,
    "lockgate.loopback": 0,
    "lockgate.spec": 1,
    "lockgate.engine": 2,
    "lockgate.supply": 3,
    "lockgate.images": 3,
    "lockgate.serving": 3,
    "lockgate.stages": 4,
    "lockgate.executors": 4,
    "lockgate.delivery": 5,
    "lockgate.generator": 5,
    "lockgate.ci": 5,
    "lockgate.report": 5,
    "lockgate.commands": 6,
    "lockgate.ui": 6,
    "lockgate.__main__": 6,
}

# Known, being moved: imports or cycles a move still under way will remove; each entry is
# (importer, imported) or the cycle's files. Keep these short; today they are empty.
KNOWN_BEING_MOVED: set[tuple[str, str]] = set()
KNOWN_CYCLES_BEING_MOVED: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def module_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The lockgate modules ``path`` imports when it is imported (eager imports only)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        return ".".join([*base, node.module] if node.module else base)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = resolve(node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return {m for m in found if m in modules}


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/design.md")


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: module_imports(path, name, modules) for name, path in paths.items()}


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    bad = set()
    for importer, imported in graph.items():
        _, level = layer_of(importer)
        for target in imported:
            if layer_of(target)[1] > level:
                bad.add((importer, target))
    return bad


def file_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one file (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: set[frozenset[str]] = set()

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_every_module_has_a_layer() -> None:
    graph = import_graph()
    assert len(graph) > 100, "the import graph should hold every module of the package"
    for module in graph:
        assert layer_of(module)[1] in range(7)


def test_imports_point_down_the_layers() -> None:
    bad = upward_imports(import_graph())
    new = sorted(bad - KNOWN_BEING_MOVED)
    assert not new, "imports that point up the layers (docs/design.md):\n" + "\n".join(
        f"  {a} -> {b} ({layer_of(a)[0]} is below {layer_of(b)[0]})" for a, b in new
    )
    stale = KNOWN_BEING_MOVED - bad
    assert not stale, f"moved already, drop from KNOWN_BEING_MOVED: {sorted(stale)}"


def test_no_file_imports_itself_in_a_circle() -> None:
    cycles = file_cycles(import_graph())
    new = cycles - KNOWN_CYCLES_BEING_MOVED
    assert not new, "import cycles between files:\n" + "\n".join(
        "  " + " <-> ".join(sorted(c)) for c in new
    )
    stale = KNOWN_CYCLES_BEING_MOVED - cycles
    assert not stale, f"gone already, drop from KNOWN_CYCLES_BEING_MOVED: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from lockgate.engine.stagespec import StageSpec\n", {"lockgate.engine.stagespec"}),
        ("from lockgate.engine import stagespec\n", {"lockgate.engine.stagespec"}),
        ("from . import stagespec\n", {"lockgate.engine.stagespec"}),
        ("from .stagespec import StageSpec\n", {"lockgate.engine.stagespec"}),
        ("import lockgate.errors\n", {"lockgate.errors"}),
        ("if TYPE_CHECKING:\n    from lockgate.spec.models import Pipeline\n", set()),
        ("def f():\n    from lockgate.commands import run\n", set()),
        ("try:\n    import lockgate.errors\nexcept ImportError:\n    pass\n", {"lockgate.errors"}),
    ],
)
def test_the_parser_sees_eager_imports_only(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    path = tmp_path / "runner.py"
    path.write_text(source)
    modules = {"lockgate.engine.stagespec", "lockgate.errors", "lockgate.commands.run"}
    assert module_imports(path, "lockgate.engine.runner", modules) == expected


def test_an_upward_import_and_a_cycle_are_caught() -> None:
    graph = {
        "lockgate.engine.runner": {"lockgate.commands.run"},
        "lockgate.commands.run": {"lockgate.engine.runner"},
    }
    assert upward_imports(graph) == {("lockgate.engine.runner", "lockgate.commands.run")}
    assert file_cycles(graph) == {frozenset(graph)}
