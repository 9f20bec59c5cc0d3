"""The package's shape: rooms by step of the flow, imports that point down it with no cycle, one import path
per public name (the top level), no re-exports between submodules, modules small enough to read."""

import ast

import pytest
from conftest import ROOT

import lighton_lab

PACKAGE = ROOT / "lighton_lab"

# The flow, bottom up (../shared/DESIGN.md): a room may import its own level and the levels below it.
LEVELS = [
    {"errors", "config", "procs"},
    {"models"},
    {"corpus"},
    {"render"},
    {"engines"},
    {"endpoints"},
    {"client"},
    {"store"},
    {"scoring"},
    {"frames"},
    {"sweep"},
    {"views"},
    {"benchmarks"},
    {"cli"},
]
LEVEL = {room: i for i, rooms in enumerate(LEVELS) for room in rooms}


def modules() -> dict[str, object]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports (module- or function-level; TYPE_CHECKING blocks ignored)."""
    found = modules()
    graph = {}
    for name, path in found.items():
        tree = ast.parse(path.read_text())
        skip = {
            id(x)
            for n in ast.walk(tree)
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
            for x in ast.walk(n)
        }
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                mod = (
                    ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else node.module or ""
                )
                targets |= {mod} | {f"{mod}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in found and t != name and found[t].name != "__init__.py"}
    return {k: v for k, v in graph.items() if found[k].name != "__init__.py"}


def room(module: str) -> str:
    return module.split(".")[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
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


def test_every_room_has_a_level():
    rooms = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.name != "__pycache__"} - {"__init__"}
    assert rooms == set(LEVEL)


def test_imports_point_down_the_flow():
    """A step never imports a later one: the store never scores, the client never sweeps, a view is never
    imported by what it shows."""
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if LEVEL[room(b)] > LEVEL[room(a)]
    )
    assert upward == []


def test_the_level_check_catches_an_upward_import():
    graph = {"lighton_lab.store.store": {"lighton_lab.frames.rows"}}
    assert [(a, b) for a, t in graph.items() for b in t if LEVEL[room(b)] > LEVEL[room(a)]]


def test_at_most_twenty_entries_at_the_top():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 20, entries


def test_subpackages_export_nothing():
    """One import path per name: a subpackage's __init__ holds a docstring, never imports to re-export."""
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        tree = ast.parse(init.read_text())
        assert not [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], init


def test_no_submodule_re_exports_another_modules_names():
    """Names imported from another lighton_lab module are used there, not passed on (no ``__all__`` listing
    them, no ``noqa: F401`` to keep an unused import alive)."""
    offenders = []
    for name, path in modules().items():
        if path == PACKAGE / "__init__.py":
            continue
        text = path.read_text()
        tree = ast.parse(text)
        imported = {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").startswith("lighton_lab"))
            for a in n.names
        }
        exported = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                exported = {e.value for e in node.value.elts}
        offenders += [f"{name}: {n}" for n in sorted(imported & exported)]
        offenders += [
            f"{name}: {line.strip()}"
            for line in text.splitlines()
            if "noqa: F401" in line and "lighton_lab" in line
        ]
    assert offenders == []


def test_the_type_checking_imports_are_the_export_table():
    """Editors see real imports (hover, go-to-definition); the lazy table and they never drift apart."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    typed = {
        alias.name: node.module.removeprefix("lighton_lab.") for node in block.body for alias in node.names
    }
    assert typed == lighton_lab._EXPORTS
    assert lighton_lab.__all__ == list(lighton_lab._EXPORTS)


@pytest.mark.parametrize("name", sorted(lighton_lab._EXPORTS))
def test_every_public_name_resolves_where_the_table_says(name):
    value = getattr(lighton_lab, name)
    module = getattr(value, "__module__", None)
    if module is not None and callable(value):  # functions and classes: defined there, not passed through
        assert module == f"lighton_lab.{lighton_lab._EXPORTS[name]}"


def test_modules_stay_readable():
    """Small modules, formatted (ruff format), so the count is honest. synth.py is exempt: most of it is
    the sample documents' text and layout tables."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {n: s for n, s in sizes.items() if s > 500 and not n.endswith("corpus/synth.py")} == {}
