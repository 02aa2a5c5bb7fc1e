"""No import cycle between modules, lazy imports included (import-linter checks the layers
between packages; this checks every module against every other, sub-packages included).

A cycle makes a module's meaning depend on import order and forces lazy imports to hide it;
the graph is built by grimp (import-linter's engine), which reads function-level imports too.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import grimp

PACKAGES = ("games", "agents", "training", "arena", "ratings")


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan 1972), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(root: str) -> None:  # iterative, so deep graphs cannot hit the recursion limit
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph.modules:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(cycles)


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES)
    assert import_cycles(graph) == []


def test_the_detector_finds_a_planted_cycle(tmp_path, monkeypatch):
    package = tmp_path / "loopy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loopy import b\n")
    (package / "b.py").write_text("def f():\n    from loopy import c  # lazy: still an edge\n")
    (package / "c.py").write_text("import loopy.a\n")
    (package / "d.py").write_text("import loopy.a\n")  # imports the cycle, is not part of it
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles(grimp.build_graph("loopy")) == [["loopy.a", "loopy.b", "loopy.c"]]


def test_importing_arena_installs_nothing():
    """The registry resolver is installed by the processes that need it (CLI, workers,
    server), not as a side effect of ``import arena``."""
    probe = textwrap.dedent(
        """
        import agents.spec, arena, arena.registry.store
        assert agents.spec._resolver is None, agents.spec._resolver
        from arena.registry import resolve
        resolve.install()
        assert agents.spec._resolver is resolve.resolve_for_agents
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)
