"""The shape of service/'s imports, read with `ast` (nothing is imported): no cycle at import
time, keys.py is a leaf, only the store and the database layer call the SQL registry's query()."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


FILES: dict[str, Path] = {_module_name(p): p for p in sorted(SERVICE.rglob("*.py"))}
TREES: dict[str, ast.Module] = {module: ast.parse(path.read_text(), filename=str(path))
                                for module, path in FILES.items()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@dataclass
class Imports:
    """One module's imports of service modules: (target, line), split by when they run."""
    module_level: list[tuple[str, int]] = field(default_factory=list)
    function_level: list[tuple[str, int]] = field(default_factory=list)
    # local name -> (service module, imported name) for `from service.x import name [as local]`
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    # local name -> service module for `import service.x as m` / `from service.x import m` (a module)
    modules: dict[str, str] = field(default_factory=dict)


def _package_of(module: str) -> str:
    return module if FILES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve_from(package: str, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = package.split(".")
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def _targets(package: str, node: ast.Import | ast.ImportFrom, found: Imports) -> list[str]:
    """The service modules an import statement loads (and records the names it binds)."""
    targets = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "service" or alias.name.startswith("service."):
                targets.append(alias.name)
                if alias.asname:
                    found.modules[alias.asname] = alias.name
        return targets
    source = _resolve_from(package, node)
    if source is None or not (source == "service" or source.startswith("service.")):
        return targets
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        local = alias.asname or alias.name
        if submodule in FILES:
            targets.append(submodule)
            found.modules[local] = submodule
        else:
            targets.append(source)
            found.names[local] = (source, alias.name)
    return targets


def _collect(tree: ast.Module, package: str) -> Imports:
    """The imports of one parsed module whose package (for relative imports) is `package`."""
    found = Imports()

    def visit(nodes, in_function: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse, in_function)          # only the else branch runs
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bucket = found.function_level if in_function else found.module_level
                bucket += [(target, node.lineno) for target in _targets(package, node, found)]
                continue
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(list(ast.iter_child_nodes(node)), inner)

    visit(tree.body, False)
    return found


IMPORTS: dict[str, Imports] = {module: _collect(TREES[module], _package_of(module)) for module in FILES}


def _edges(level: str = "module_level") -> dict[str, set[str]]:
    return {module: {target for target, _ in getattr(found, level) if target in FILES and target != module}
            for module, found in IMPORTS.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path a -> b -> ... -> a, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if colour.get(target, BLACK) == GREY:
                return stack[stack.index(target):] + [target]
            if colour.get(target) == WHITE:
                cycle = dfs(target)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE:
            cycle = dfs(start)
            if cycle:
                return cycle
    return None


# The reader itself ---------------------------------------------------------------------

def test_the_reader_sees_the_package_and_its_imports():
    assert {"service", "service.keys", "service.app", "service.db.registry", "service.api.routes"} <= set(FILES)
    app = {target for target, _ in IMPORTS["service.app"].module_level}
    assert {"service.keys", "service.api.routes", "service.cache.response_cache", "service.settings"} <= app


def test_the_reader_skips_type_checking_blocks_and_resolves_names():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from service import keys\n"
        "from service.db.registry import query as q\n"
        "from .registry import Query\n"
        "if TYPE_CHECKING:\n"
        "    from service.app import create_app\n"
        "else:\n"
        "    from service.settings import Settings\n"
        "if typing.TYPE_CHECKING:\n"
        "    import service.cli.main\n"
        "class C:\n"
        "    from service.errors import ApiError\n"
        "def f():\n"
        "    from service.store import posts\n"
    )
    found = _collect(ast.parse(source), "service.db")
    assert [t for t, _ in found.module_level] == ["service.keys", "service.db.registry", "service.db.registry",
                                                  "service.settings", "service.errors"]
    assert [t for t, _ in found.function_level] == ["service.store.posts"]
    assert found.names["q"] == ("service.db.registry", "query")


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),                  # a diamond is not a cycle
    ({"a": {"a"}}, ["a", "a"]),
])
def test_the_cycle_finder(graph, cycle):
    assert _find_cycle(graph) == cycle


# The rules -------------------------------------------------------------------------------

def test_no_import_cycle_among_service_modules_at_import_time():
    cycle = _find_cycle(_edges("module_level"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_keys_is_a_leaf_at_runtime():
    found = IMPORTS["service.keys"]
    runtime = found.module_level + found.function_level
    assert runtime == [], f"service/keys.py imports {runtime} outside `if TYPE_CHECKING:`"


def _query_callers() -> dict[str, list[int]]:
    """module -> lines where it calls service.db.registry.query (by any local name)."""
    callers: dict[str, list[int]] = {}
    for module, found in IMPORTS.items():
        direct = {local for local, target in found.names.items() if target == ("service.db.registry", "query")}
        via_module = {local for local, target in found.modules.items() if target == "service.db.registry"}
        for node in ast.walk(TREES[module]):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Name) and func.id in direct) or (
                    isinstance(func, ast.Attribute) and func.attr == "query" and isinstance(func.value, ast.Name)
                    and func.value.id in via_module):
                callers.setdefault(module, []).append(node.lineno)
    return callers


def _outside_the_store(callers: dict[str, list[int]]) -> dict[str, list[int]]:
    return {m: lines for m, lines in callers.items()
            if not (m.startswith("service.store.") or m.startswith("service.db."))}


def test_the_query_callers_are_found():
    callers = _query_callers()
    assert {"service.store.posts", "service.store.clients", "service.store.users"} <= set(callers)


def test_only_the_store_and_the_database_layer_call_query():
    assert _outside_the_store(_query_callers()) == {}


def _defined_names(module: str) -> set[str] | None:
    """Names a module binds at import time; None if it cannot be known (`*` import, __getattr__)."""
    tree = TREES[module]
    names: set[str] = set()

    def bind(target) -> None:
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                bind(element)

    def visit(nodes) -> bool:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    bind(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                bind(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        return False
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
                if isinstance(node, ast.Try):
                    children += [s for handler in node.handlers for s in handler.body]
                if not visit(children):
                    return False
        return True

    if not visit(tree.body) or "__getattr__" in names:
        return None
    return names


def test_every_name_imported_from_a_service_module_exists_there():
    """A renamed function stops start-up; this finds the importer that was not updated."""
    missing = []
    for module, found in IMPORTS.items():
        for _local, (source, name) in found.names.items():
            defined = _defined_names(source) if source in FILES else set()
            if defined is not None and name not in defined:
                missing.append(f"{module} imports {name} from {source}")
    assert missing == []
