"""The layer rules, checked on the source: who may import whom, where SQL may stand, no import cycle.

    tools/ ──► answers/ ──► store/protocol ◄── store/sqlite/ (implements it)
       │          │
       ▼          ▼
    render/ ──► analysis/, drafting/, model.py (pure)

Every import counts, including one inside a function (a cycle hidden in a function is still a
cycle). Each rule is also tested to catch a planted violation, so the walk cannot pass by
reading nothing.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcp_sessions"
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM\b|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX))", re.I | re.S
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def modules() -> dict[str, ast.Module]:
    return dict(_modules())


def imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Every module `name` imports (anywhere in it), as full names; `from pkg import mod` names mod."""
    package = name if f"{name}.__init__" in known or _is_package(name) else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
    return out


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {name: set(targets) for name, targets in _graph().items()}


@functools.cache
def _graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {
        name: {m for m in imports(name, tree, known) if m in known or m.split(".")[0] != "mcp_sessions"}
        for name, tree in trees.items()
    }


def in_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def violations(edges: dict[str, set[str]], layer: str, banned: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in edges.items()
        if in_layer(name, layer)
        for target in targets
        if any(in_layer(target, b) for b in banned)
    )


RULES = [
    ("mcp_sessions.analysis", ("mcp_sessions.store", "mcp_sessions.render", "mcp", "sqlite3", "mcp_sessions.tools")),
    ("mcp_sessions.drafting", ("mcp_sessions.store", "mcp_sessions.render", "mcp", "sqlite3", "mcp_sessions.tools")),
    (
        "mcp_sessions.answers",
        ("sqlite3", "mcp_sessions.render", "mcp_sessions.tools", "mcp_sessions.store.sqlite", "mcp"),
    ),
    ("mcp_sessions.render", ("mcp_sessions.store", "sqlite3", "mcp_sessions.tools")),
    ("mcp_sessions.tools", ("sqlite3", "mcp_sessions.store.sqlite")),
    ("mcp_sessions.model", ("mcp_sessions.store", "mcp_sessions.render", "sqlite3", "mcp")),
]


@pytest.mark.parametrize(("layer", "banned"), RULES, ids=[r[0].split(".")[-1] for r in RULES])
def test_layer_imports_only_what_it_may(layer: str, banned: tuple[str, ...]):
    edges = graph()
    assert any(in_layer(name, layer) for name in edges), f"no module of {layer} was read"
    assert violations(edges, layer, banned) == []


def test_a_planted_import_is_caught():
    edges = graph()
    edges["mcp_sessions.analysis.tree"] = {*edges["mcp_sessions.analysis.tree"], "sqlite3"}
    edges["mcp_sessions.render.lists"] = {*edges["mcp_sessions.render.lists"], "mcp_sessions.store.sqlite.queries"}
    assert violations(edges, "mcp_sessions.analysis", RULES[0][1]) == ["mcp_sessions.analysis.tree imports sqlite3"]
    assert violations(edges, "mcp_sessions.render", RULES[3][1]) == [
        "mcp_sessions.render.lists imports mcp_sessions.store.sqlite.queries"
    ]


def strings(tree: ast.Module) -> list[str]:
    """The string constants of a module, docstrings left out (they may quote SQL as an example)."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def sql_outside_store(trees: dict[str, ast.Module]) -> list[str]:
    return sorted(
        f"{name}: {text[:60]!r}"
        for name, tree in trees.items()
        if not in_layer(name, "mcp_sessions.store")
        for text in strings(tree)
        if SQL.search(text)
    )


def test_no_sql_outside_the_store():
    trees = modules()
    assert sql_outside_store(trees) == []
    planted = {**trees, "mcp_sessions.tools.browse": ast.parse('Q = "SELECT trace_id FROM traces"')}
    assert sql_outside_store(planted) == ["mcp_sessions.tools.browse: 'SELECT trace_id FROM traces'"]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once, from where it was entered)."""
    found, state = [], {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in edges:
                continue
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle():
    edges = graph()
    # A package's __init__ re-exporting its own modules is not a cycle between layers.
    inner = {
        name: {t for t in targets if not (name != t and in_layer(t, name) and _is_package(name))}
        for name, targets in edges.items()
    }
    assert cycles(inner) == []
    planted = {**inner, "mcp_sessions.model": {*inner["mcp_sessions.model"], "mcp_sessions.answers.trace"}}
    assert cycles(planted)


def test_no_formatting_helpers_outside_render():
    """Markdown is built in render/ only: no other layer imports its helpers."""
    edges = graph()
    outside = sorted(
        f"{name} imports {target}"
        for name, targets in edges.items()
        if not in_layer(name, "mcp_sessions.render") and not in_layer(name, "mcp_sessions.tools")
        for target in targets
        if in_layer(target, "mcp_sessions.render") and name not in ("mcp_sessions.cli", "mcp_sessions.demo")
    )
    assert outside == []


TOOL_BODY_LINES = 15


def body_lines(function: object) -> int:
    """Lines of a function's body after its docstring."""
    node = ast.parse(inspect.getsource(function)).body[0]
    assert isinstance(node, ast.FunctionDef)
    body = node.body[1:] if ast.get_docstring(node) else node.body
    return (body[-1].end_lineno or 0) - body[0].lineno + 1


def test_every_tool_and_resource_is_a_few_lines():
    from mcp_sessions.server import create_server  # noqa: F401  (fills the registries)
    from mcp_sessions.tools import ingest
    from mcp_sessions.tools.common import RESOURCES, TOOLS

    functions = [t.function for t in TOOLS] + [r.function for r in RESOURCES] + [ingest.ingest_recording]
    assert len(TOOLS) >= 9
    long = {f.__name__: n for f in functions if (n := body_lines(f)) > TOOL_BODY_LINES}
    assert long == {}
