"""Project rules that are cheap to check: core/ is computation only."""
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
