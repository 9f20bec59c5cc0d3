"""The package's shape: imports follow the flow with no cycle, and modules stay small enough to read."""

import ast

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lighton_lab"


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports (module- or function-level; TYPE_CHECKING blocks ignored)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = {id(x) for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                for x in ast.walk(n)}
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module or ""
                targets |= {mod} | {f"{mod}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name and modules[t].name != "__init__.py"}
    return {k: v for k, v in graph.items() if modules[k].name != "__init__.py"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("lower,upper", [
    ("lighton_lab.store", "lighton_lab.frames"), ("lighton_lab.store", "lighton_lab.sweep"),
    ("lighton_lab.metrics", "lighton_lab.frames"), ("lighton_lab.frames", "lighton_lab.sweep"),
    ("lighton_lab.sweep", "lighton_lab.widgets"), ("lighton_lab.bench", "lighton_lab.cli"),
    ("lighton_lab.models", "lighton_lab.endpoints"), ("lighton_lab.client", "lighton_lab.sweep"),
    ("lighton_lab.client", "lighton_lab.endpoints"), ("lighton_lab.render", "lighton_lab.client"),
    ("lighton_lab.corpus", "lighton_lab.render"), ("lighton_lab.store", "lighton_lab.metrics"),
])
def test_imports_point_down_the_flow(lower, upper):
    """A step never imports a later one (DESIGN.md's flow), directly or through others."""
    graph, seen, todo = import_graph(), set(), [lower]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert upper not in seen


def test_modules_stay_readable():
    """Small modules; synth.py is exempt: most of it is the sample documents' text and layout tables."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert sizes["lighton_lab/sweep.py"] < 300
    assert {name: n for name, n in sizes.items() if n > 350 and name != "lighton_lab/synth.py"} == {}
