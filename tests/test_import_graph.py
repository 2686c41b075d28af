"""The package's import graph has no cycles (module-level and function-level imports alike), so
every stage imports only the stages below it and the shared modules at the bottom."""

from __future__ import annotations

import ast
import pathlib

import nirvis

SRC = pathlib.Path(nirvis.__file__).parent
SHARED = {"nirvis.atomic", "nirvis.colour", "nirvis.crop", "nirvis.distributed", "nirvis.errors", "nirvis.shapes"}


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                target = (base + ("." + node.module if node.module else "")) if node.level else node.module or ""
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for t in names:
                # importing a submodule always runs its parent package first: not an edge
                if t in mods and t != m and not m.startswith(t + "."):
                    graph[m].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_detector_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_shared_modules_import_no_stage():
    graph = _graph()
    for m in SHARED:
        assert graph[m] <= SHARED, (m, graph[m] - SHARED)


def test_former_cycles_are_one_way():
    graph = _graph()
    assert "nirvis.cli" not in graph["nirvis.evaluate.cli"]
    assert "nirvis.reflectance.invert" not in graph["nirvis.reflectance.baseline"]
