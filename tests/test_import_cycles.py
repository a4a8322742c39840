"""The package's imports form no cycle (issue 18; DESIGN.md "The shape of the house": data flows
one way, envs -> data -> model -> train -> planning/evaluation -> report).

What counts as an import (decided here, documented in docs/CONTRACTS.md "Layering"):

- every ``import lewm.x`` / ``from lewm.x import y`` / relative import **anywhere in a file** —
  module level, inside functions, under ``if``/``try``. Deferred (function-level) imports count:
  they hide a dependency from import time but not from the design, and every cycle issue 18
  found went through one (a module-level-only check passed on that tree);
- ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``;
- importing ``a.b.c`` also runs the ``__init__`` of the packages ``a.b`` that the importer is not
  itself inside, so those are edges too (a package importing its own submodules is not a cycle);
- string-based lazy imports (``importlib.import_module`` in ``lewm.data.__getattr__``) are not
  seen; they only re-export a package's own submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path, top: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every .py under ``src/top``."""
    mods = {}
    for path in sorted((src / top).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _imported_names(node: ast.AST, package: str) -> list[str]:
    """Absolute dotted names one import statement may load (``from a import b`` gives a.b)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: drop (level - 1) trailing parts of the importer's package
            parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(parent + ([base] if base else []))
        return [base] + [f"{base}.{a.name}" for a in node.names]
    return []


def import_graph(src: Path, top: str) -> dict[str, set[str]]:
    """Module -> the modules of ``top`` it imports (see the module docstring for the rules)."""
    mods = _modules(src, top)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = _imported_names(node, package)
            if isinstance(node, ast.ImportFrom):  # `from a import b`: a.b if a module, else a
                base, *members = names
                names = [m for m in members if m in mods] or [base]
            for target in names:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):  # the target and the packages it runs
                    prefix = ".".join(parts[:i])
                    if prefix in mods and (prefix == target or prefix not in own):
                        out.add(prefix)
        out.discard(name)
        graph[name] = out
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [m0, m1, ..., m0], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_lewm_has_no_import_cycle():
    graph = import_graph(SRC, "lewm")
    assert len(graph) > 50 and "lewm.train" in graph  # the scan saw the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub import inner\n")  # own submodule: fine
    (pkg / "sub" / "inner.py").write_text("import os\n")
    (pkg / "low.py").write_text("def f():\n    from pkg import high\n    return high\n")
    (pkg / "high.py").write_text("from . import low\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.high"] == {"pkg.low"} and graph["pkg.low"] == {"pkg.high"}
    assert find_cycle(graph) in (
        ["pkg.high", "pkg.low", "pkg.high"],
        ["pkg.low", "pkg.high", "pkg.low"],
    )
    (pkg / "low.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


def test_the_checker_counts_a_package_init_that_imports_back(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "ev").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train.py").write_text("from pkg.ev.metric import m\n")
    (pkg / "ev" / "__init__.py").write_text("from pkg.ev.run import r\n")
    (pkg / "ev" / "metric.py").write_text("m = 1\n")
    (pkg / "ev" / "run.py").write_text("import pkg.train\n")
    cycle = find_cycle(import_graph(tmp_path, "pkg"))
    assert cycle is not None and "pkg.train" in cycle and "pkg.ev" in cycle
