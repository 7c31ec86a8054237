"""How the dashboard uses core and itself, read from its source (ast; imports inside functions
and under TYPE_CHECKING count too): it reaches core through a few public modules (core.api,
core.errors), never through core's internals, and its own modules import each other without
circles (a circle hides which layer owns what and breaks on a partial import)."""
from __future__ import annotations

import ast
from pathlib import Path

from core.store.paths import REPO_ROOT as ROOT
MAX_CORE_MODULES = 8


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every project module a file imports: ``from pkg import mod`` names ``pkg.mod`` when
    that is a module, else ``pkg``; relative imports resolved against the file's package."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if _is_module(sub) else base)
    return out


def dashboard_files() -> list[Path]:
    return sorted((ROOT / "dashboard").rglob("*.py"))


def test_dashboard_uses_few_core_modules():
    used = {m for f in dashboard_files() for m in imported_modules(f) if m.split(".")[0] == "core"}
    assert len(used) <= MAX_CORE_MODULES, f"dashboard/ imports {len(used)} core modules: {sorted(used)}"


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(f): f for f in dashboard_files()}
    return {m: {i for i in imported_modules(f) if i in files and i != m} for m, f in files.items()}


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_find_circles_finds_a_circle():
    assert find_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_circles({"a": {"b"}, "b": set()}) == []


def test_dashboard_has_no_import_circles():
    circles = find_circles(import_graph())
    assert not circles, f"import circles in dashboard/: {circles}"


def test_charts_are_plain_functions():
    """dashboard/charts/ builds figures from arrays (DESIGN: tested without a server): no streamlit."""
    for f in sorted((ROOT / "dashboard" / "charts").glob("*.py")):
        assert not any(m.split(".")[0] == "streamlit" for m in imported_modules(f)), f"{f.name} imports streamlit"


LAYERS = {"views": {"ui", "state", "charts"}, "ui": {"ui", "state", "charts"}, "state": {"state", "charts"},
          "charts": {"charts"}}


def test_layers_import_downward():
    """Pages use ui pieces, which use the state layer, which uses core (and pure charts): never
    the other way, so each layer can be read and tested without the ones above it."""
    wrong = []
    for m, deps in import_graph().items():
        layer = m.split(".")[1] if m.count(".") >= 2 else None
        if layer in LAYERS:
            wrong += [f"{m} -> {d}" for d in deps if d.count(".") >= 2 and d.split(".")[1] not in LAYERS[layer]]
    assert not wrong, wrong
