"""The issuer's modules form layers: no module imports one that (directly or not) imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

ISSUER = Path(__file__).resolve().parents[2] / "issuer"


def _imports(path: Path) -> set[str]:
    """Every issuer module this file imports, including imports only for type checking."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("issuer."):
            found.add(node.module.split(".")[1])
    return {name.split(".")[0] for name in found}


def test_issuer_modules_have_no_import_cycle():
    graph = {p.stem: _imports(p) for p in ISSUER.glob("*.py") if p.stem != "__init__"}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " -> ".join(path + [module])
        state[module] = "open"
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + [module])
        state[module] = "done"
        order.append(module)

    for module in sorted(graph):
        visit(module, [])
    assert order.index("city") > max(order.index(m) for m in ("batch", "lifecycle", "publish"))
