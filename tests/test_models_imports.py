"""attnlab.models imports only downward: its modules' import graph has no cycle. And models/ and
layers/ stay readable: no function over 80 lines, no module over 400.

Run as a script to print the graph and an import order (bottom first):
``python tests/test_models_imports.py``.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import attnlab.models

PACKAGE = "attnlab.models"
FOLDER = Path(attnlab.models.__file__).parent


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """Modules of ``PACKAGE`` named by one import statement of ``module`` (``__init__`` for the package)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level:  # relative: resolve against the package (every module here is in PACKAGE)
        base = PACKAGE.split(".")[: len(PACKAGE.split(".")) - node.level + 1]
        if node.module:
            names = [".".join(base + [node.module])]
        else:  # ``from . import x``: x may be a module or a name of __init__
            names = [".".join(base + [a.name]) for a in node.names]
    else:
        names = [node.module or ""]
        names += [f"{node.module}.{a.name}" for a in node.names]
    out = []
    for name in names:
        if name == PACKAGE:
            out.append("__init__")
        elif name.startswith(PACKAGE + "."):
            first = name[len(PACKAGE) + 1 :].split(".")[0]
            out.append(first if (FOLDER / f"{first}.py").is_file() else "__init__")
    return [t for t in out if t != module]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of attnlab.models it imports}``, counting imports anywhere in the file
    (inside functions too)."""
    graph = {}
    for path in sorted(FOLDER.glob("*.py")):
        module = path.stem
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {
            t
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for t in _targets(node, module)
        }
    return graph


def _imports_attnlab(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").startswith("attnlab")
    return isinstance(node, ast.Import) and any(a.name.startswith("attnlab") for a in node.names)


def function_level_imports() -> list[str]:
    """``module:line`` of every import of an attnlab module made inside a function of attnlab.models."""
    found = []
    for path in sorted(FOLDER.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found += [f"{path.stem}:{node.lineno}" for node in ast.walk(fn) if _imports_attnlab(node)]
    return found


def import_order(graph: dict[str, set[str]]) -> list[str]:
    """The modules, each after every module it imports; CycleError names a cycle."""
    return list(TopologicalSorter(graph).static_order())


def test_models_import_graph_is_acyclic():
    graph = import_graph()
    assert {"config", "registry", "transformer"} <= graph.keys()
    try:
        order = import_order(graph)
    except CycleError as e:
        raise AssertionError(f"attnlab.models has an import cycle: {' -> '.join(e.args[1])}") from None
    assert order[-1] == "__init__"  # nothing inside the package imports the package itself


def test_no_function_level_imports_inside_attnlab():
    assert function_level_imports() == []


def test_models_and_layers_have_short_functions_and_modules():
    long = []
    for folder in (FOLDER, FOLDER.parent / "layers"):
        for path in sorted(folder.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if len(text.splitlines()) > 400:
                long.append(f"{path.name}: {len(text.splitlines())} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > 80:
                        long.append(f"{path.name}:{node.lineno} {node.name}: {n} lines")
    assert long == []


def test_the_graph_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    try:
        import_order(graph)
    except CycleError:
        return
    raise AssertionError("a -> b -> c -> a was not reported")


if __name__ == "__main__":
    graph = import_graph()
    for module in sorted(graph):
        print(f"{module:14} -> {', '.join(sorted(graph[module])) or '-'}")
    try:
        print("\nimport order (bottom first):", " < ".join(import_order(graph)))
    except CycleError as e:
        print("\ncycle:", " -> ".join(e.args[1]))
    print("function-level imports:", function_level_imports() or "none")
