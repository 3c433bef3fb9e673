"""The house rules of DESIGN.md, checked on the source: rooms import only downwards, no cycles.

Imports are read statically (ast) from every module of ``autolit/``, at any depth of the file,
so an import hidden inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autolit"

# What each room may import besides itself. Leaves (errors, system) may be imported by anyone.
LEAVES = {"errors", "system"}
ALLOWED: dict[str, set[str]] = {
    "store": set(),
    "net": set(),
    "modules": set(),
    "scrape": {"store", "net"},
    "datamodules": {"store", "scrape"},
    "deploy": {"modules", "datamodules", "store", "net"},
    "training": {"modules", "datamodules", "store", "scrape"},
    "search": {"training", "modules", "datamodules", "store", "scrape", "deploy"},
    "serve": {"search", "training", "deploy", "datamodules", "modules", "store", "scrape", "net"},
}
ENTRY_POINTS = {"fit", "export", "predict", "baseline"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_modules() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every ``autolit.*`` module this file imports: ``from autolit.x import y`` names
    ``autolit.x.y`` when that is a module (a submodule import), else ``autolit.x``."""
    modules = _all_modules()
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("autolit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("autolit"):
                subs = {f"{name}.{alias.name}" for alias in node.names} & modules
                found |= subs or {name}
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_rooms_import_only_what_design_allows():
    bad = []
    for module, targets in _graph().items():
        room = _room(module)
        if room not in ALLOWED:
            continue  # entry points and leaves are checked below
        for target in targets:
            other = _room(target)
            if other and other != room and other not in ALLOWED[room] | LEAVES:
                bad.append(f"{module} imports {target} ({room} may import {sorted(ALLOWED[room] | LEAVES)})")
    assert not bad, "\n".join(bad)


# Sub-rooms of a room: the room's core (its modules outside any sub-room) may import none of them;
# each sub-room may import the core and the sub-rooms listed, nothing else of its room.
SUB_ROOMS: dict[str, dict[str, set[str]]] = {
    "search": {"run": set(), "report": set()},
}
ROOM_ENTRY = "__main__"  # a room's own command line may import all its sub-rooms


def _sub_room(module: str) -> str | None:
    """``run`` for autolit.search.run.driver; ``None`` for the core (autolit.search.config)."""
    parts = module.split(".")
    subs = SUB_ROOMS.get(parts[1], {}) if len(parts) > 2 else {}
    return parts[2] if parts[2:3] and parts[2] in subs else None


def test_sub_rooms_import_only_the_core_and_what_is_listed():
    bad = []
    for module, targets in _graph().items():
        room = _room(module)
        if room not in SUB_ROOMS or module.split(".")[2:3] == [ROOM_ENTRY]:
            continue
        mine = _sub_room(module)
        for target in targets:
            if _room(target) != room or (theirs := _sub_room(target)) is None or theirs == mine:
                continue
            if mine is None:
                bad.append(f"{module} (the {room} core) imports the sub-room {target}")
            elif theirs not in SUB_ROOMS[room][mine]:
                bad.append(f"{module} ({room}.{mine}) imports {target} ({room}.{theirs})")
    assert not bad, "\n".join(bad)


def test_sub_rooms_exist_as_listed():
    """A renamed or removed sub-room must not leave the rule above silently checking nothing."""
    for room, subs in SUB_ROOMS.items():
        for sub in subs:
            assert (PACKAGE / room / sub / "__init__.py").is_file(), f"autolit/{room}/{sub}/ is listed but missing"


def test_no_room_imports_an_entry_point():
    bad = [f"{module} imports {target}" for module, targets in _graph().items() for target in targets
           if _room(target) in ENTRY_POINTS and _room(module) not in ENTRY_POINTS]
    assert not bad, "\n".join(bad)


def test_leaves_import_nothing_of_autolit():
    graph = _graph()
    bad = [f"autolit.{leaf} imports {t}" for leaf in LEAVES for t in graph.get(f"autolit.{leaf}", ())]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_among_modules():
    graph = _graph()
    known = set(graph)

    def targets(module: str) -> set[str]:
        # `from autolit.x import y` may name the submodule autolit.x.y or a name in autolit.x
        return {t for t in graph[module] if t in known and t != module}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(targets(module)):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_walker_sees_imports_inside_functions(tmp_path):
    """The checks above are only as good as the walker: it must find lazy and relative imports."""
    sample = PACKAGE / "deploy" / "runtime.py"
    assert "autolit.deploy.formats" in _imports(sample)
    lazy = PACKAGE / "export.py"
    assert "autolit.search.best" in _imports(lazy)  # imported inside main()
