"""How the dashboard uses core and itself, read from its source (ast; imports inside functions
and under TYPE_CHECKING count too): it reaches core through a few public modules (core.api,
core.errors), never through core's internals, and its own modules import each other without
circles (a circle hides which layer owns what and breaks on a partial import)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.xfail(strict=True, reason="dashboard.batch <-> dashboard.cached until the state layer")
def test_dashboard_has_no_import_circles():
    circles = find_circles(import_graph())
    assert not circles, f"import circles in dashboard/: {circles}"


def test_charts_are_plain_functions():
    """dashboard/charts/ builds figures from arrays: no streamlit, nothing of the app but charts."""
    for f in sorted((ROOT / "dashboard" / "charts").glob("*.py")):
        bad = {m for m in imported_modules(f) if m.split(".")[0] == "streamlit"
               or (m.startswith("dashboard") and not m.startswith("dashboard.charts"))}
        assert not bad, f"{f.name} imports {sorted(bad)}"
