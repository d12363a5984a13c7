"""The shape of the code (STYLE.md §12), checked so it stays true as the desk grows.

Reads the import statements of every module (module level and inside functions) with
``ast``: no file-level import cycle, at most two package-level ones, audit machinery and
other plumbing import no feature package, and no view function grows past 40 lines.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "supportdesk"
FEATURES = {"tickets", "tags", "macros", "users", "attachments", "reports", "desk", "auth",
            "health", "customers", "mail", "api", "backup"}  # fmt: skip
# Plumbing: may import each other, never a feature.
INFRASTRUCTURE = {"supportdesk.db", "supportdesk.extensions", "supportdesk.metrics",
                  "supportdesk.querystats", "supportdesk.observability", "supportdesk.paging",
                  "supportdesk.policy", "supportdesk.errors", "supportdesk.config",
                  "supportdesk.web", "supportdesk.rendering", "supportdesk.csvexport",
                  "supportdesk.audit.auditable", "supportdesk.audit.listeners",
                  "supportdesk.audit.models", "supportdesk.audit.integrity",
                  "supportdesk.audit.service", "supportdesk.audit.cli",
                  "supportdesk.audit.context", "supportdesk.replicas", "supportdesk.proxy",
                  "supportdesk.assets", "supportdesk.paths", "supportdesk.version",
                  "supportdesk.timing"}  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str) -> set[tuple[str, bool]]:
    """Return ``(imported module, inside a function)`` pairs of one module."""
    tree = ast.parse(MODULES[name].read_text())
    local = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
             for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)}  # fmt: skip
    found = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                       else node.module for a in node.names]  # fmt: skip
        found.update((t, id(node) in local) for t in targets if t in MODULES and t != name)
    return found


EDGES = {name: _imports(name) for name in MODULES}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    result: list[set[str]] = []
    counter = itertools.count()

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(component)

    for v in list(graph):
        if v not in index:
            visit(v)
    return result


def test_no_module_imports_another_that_imports_it_back():
    graph = {name: {t for t, _ in edges} for name, edges in EDGES.items()}
    assert _cycles(graph) == []


def test_at_most_two_package_level_import_loops():
    graph: dict[str, set[str]] = defaultdict(set)
    for name, edges in EDGES.items():
        for target, _ in edges:
            if _package(name) != _package(target):
                graph[_package(name)].add(_package(target))
    pairs = sorted(
        {tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph.get(b, ())}
    )
    # Pages may link to features: the audit pages name users (who acted), the tags page
    # counts tickets. Anything beyond these two is a new loop.
    assert pairs == [("audit", "users"), ("tags", "tickets")]


def test_infrastructure_imports_no_feature_package():
    offenders = {
        name: sorted(t for t, _ in EDGES[name] if _package(t) in FEATURES)
        for name in INFRASTRUCTURE
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_function_local_imports_only_in_the_app_factory():
    # A function-local import that exists to dodge a loop is the loop, hidden.
    local = {name: sorted(t for t, inside in edges if inside) for name, edges in EDGES.items()}
    assert {k: v for k, v in local.items() if v and k != "supportdesk"} == {}


def test_view_functions_stay_short():
    long = []
    for name, path in MODULES.items():
        if not name.endswith("views"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 40:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long == []
    assert len(MODULES["supportdesk.desk.views"].read_text().splitlines()) <= 450
