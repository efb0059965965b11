"""How Modelyard's modules import each other: no cycles, and every deferred import says why.

Import-linter (run by the test command) checks the layers of DESIGN.md; these two rules
are the ones it cannot express. A cycle hidden behind an import inside a function is still a
cycle (Prefect hides 119 back-edges that way), so the graph here includes those imports;
and an import deferred into a function must say in a comment why it is not at the top
(import-time cost or an optional dependency), so it cannot be a cycle in disguise.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

SRC = Path(__file__).parents[2] / "src" / "modelyard"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("modelyard", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def _deferred_imports_without_a_reason(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    missing = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in function.body:
            for imported in ast.walk(node):
                if not isinstance(imported, ast.Import | ast.ImportFrom):
                    continue
                names = (
                    [imported.module or ""]
                    if isinstance(imported, ast.ImportFrom)
                    else [a.name for a in imported.names]
                )
                if not any(n == "modelyard" or n.startswith("modelyard.") for n in names):
                    continue
                # The reason is a comment on the import, or above the block it starts.
                line = imported.lineno - 1
                while line > 0 and lines[line - 1].lstrip().startswith(("from ", "import ")):
                    line -= 1
                said = "#" in lines[imported.lineno - 1] or (
                    line > 0 and lines[line - 1].lstrip().startswith("#")
                )
                if not said:
                    where = path.relative_to(SRC.parent)
                    missing.append(f"{where}:{imported.lineno} ({function.name})")
    return missing


def test_every_import_inside_a_function_says_why() -> None:
    missing = [
        m for path in sorted(SRC.rglob("*.py")) for m in _deferred_imports_without_a_reason(path)
    ]
    assert missing == [], "say why each is deferred, or move it to the top: " + ", ".join(missing)
