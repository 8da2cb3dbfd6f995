"""No import cycle anywhere in ``nonrecours/`` (issue 11, item 4; issue 24: type-only imports included).

The test reads every module's imports with ``ast`` -- at module level, inside
functions (a deferred import hides a cycle, it does not remove it) and under
``if TYPE_CHECKING:`` (a type-only import still ties the two modules together:
each needs the other to be read, and ``typing.get_type_hints`` executes it) --
and fails on any cycle of the module graph, naming it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import nonrecours

PACKAGE = Path(nonrecours.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("nonrecours",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package imported by ``path`` (``from . import x`` resolves to the submodule x)."""
    name = _module_name(path)
    return _imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", modules)


def _imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """Modules of the package that the source of module ``name`` imports, wherever the import statement is."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] == "nonrecours")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != "nonrecours":
                    continue
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            visit(child)

    visit(ast.parse(source))
    found.discard(name)
    return {m for m in found if m in modules}


@functools.cache  # read once for the tests below (the package does not change during a run)
def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    # importing a.b.c runs a/__init__ and a/b/__init__ first: a package's parents are edges too,
    # except towards the package's own parents (which import it back by design: __init__ re-exports)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_graph_is_read():
    g = _graph()
    assert "nonrecours.weights.calibration" in g["nonrecours.weights.pipeline"]
    assert "nonrecours.options" in g["nonrecours.estimation.estimators"]


def test_type_only_and_deferred_imports_are_edges():
    src = (
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .b import B\n"
        "def f():\n    from ..c import g\n    return g\n"
    )
    modules = {"nonrecours.p.a", "nonrecours.p.b", "nonrecours.c"}
    assert _imports_of(src, "nonrecours.p.a", False, modules) == {"nonrecours.p.b", "nonrecours.c"}


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_cycle_detector_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
