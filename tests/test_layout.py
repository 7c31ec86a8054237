"""Project rules that are cheap to check: core/ is computation only, and typed."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_streamlit():
    for f in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{f} imports streamlit"


def _public_defs(tree: ast.Module):
    """Module-level functions and methods of module-level classes whose names are public."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from (n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


# Landed while the hints went in; their owner adds them (then drop them from this list).
NOT_YET_HINTED: set[str] = set()


def test_public_functions_of_core_have_type_hints():
    missing = []
    for f in sorted((ROOT / "core").rglob("*.py")):
        if str(f.relative_to(ROOT)) in NOT_YET_HINTED:
            continue
        for node in _public_defs(ast.parse(f.read_text())):
            if node.name.startswith("_") and node.name != "__call__":
                continue
            a = node.args
            params = [p for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
            params += [p for p in (a.vararg, a.kwarg) if p is not None]
            if any(p.annotation is None for p in params) or node.returns is None:
                missing.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not missing, "public functions of core/ without full type hints:\n" + "\n".join(missing)
