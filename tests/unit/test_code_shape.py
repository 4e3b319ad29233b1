"""The code's shape limits (issue 13): sizes, and no import cycles.

No function over 80 lines, no class over 400, no module over 500; no module
imports another that imports it back, and no two packages import each other.
Every import counts: at the top, inside a function, or under ``TYPE_CHECKING``.
ruff's C90 keeps the complexity limit; this test keeps what ruff cannot.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "daemon"
PACKAGE = "p2pilot"

MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 500

# Known offenders, allowed while other work on issue 13 is under way (empty now).
# Nothing new may join them; an entry that is no longer an offender fails
# test_the_allow_lists_are_not_stale, so the lists only ever shrink.
ALLOWED_LONG_FUNCTIONS: set[str] = set()
ALLOWED_LONG_CLASSES: set[str] = set()
ALLOWED_LONG_MODULES: set[str] = set()
ALLOWED_MODULE_CYCLES: set[frozenset[str]] = set()
ALLOWED_PACKAGE_CYCLES: set[frozenset[str]] = set()


@dataclass
class Module:
    """One source file: its dotted name, its syntax tree and its line count."""

    name: str
    path: Path
    tree: ast.Module
    lines: int
    is_package: bool
    imports: set[str] = field(default_factory=set)


@functools.cache
def modules() -> dict[str, Module]:
    """Every module of the package, parsed once per test process, when a test first
    asks (not at import: every worker imports this file to collect it)."""
    found: dict[str, Module] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        source = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(source), len(source.splitlines()), is_package)
    for module in found.values():
        module.imports = _imports(module, found)
    return found


def _imports(module: Module, known: dict[str, Module]) -> set[str]:
    """The project modules ``module`` imports, wherever in the file the import is."""
    targets: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            targets.update(_resolve(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else _resolve(base, known))
    targets.discard("")
    targets.discard(module.name)
    return targets


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if not module.is_package:
        package.pop()
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _resolve(name: str, known: dict[str, Module]) -> str:
    """The longest prefix of ``name`` that is a project module ("" if none is)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return ""


def _package(name: str) -> str:
    """The unit of the package check: ``p2pilot.X`` (a subpackage or a top module)."""
    return ".".join(name.split(".")[:2])


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _definitions(module: Module) -> Iterator[tuple[str, ast.AST, int]]:
    """Every function and class with its qualified name and length in lines."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}.{child.name}"
                end = child.end_lineno or child.lineno
                yield name, child, end - child.lineno + 1
                yield from walk(child, name)
            else:
                yield from walk(child, prefix)

    yield from walk(module.tree, module.name)


def _long(kind: type[ast.AST] | None, limit: int) -> dict[str, int]:
    """Functions (``kind`` None) or classes over ``limit`` lines, with their length."""
    return {
        name: lines
        for module in modules().values()
        for name, node, lines in _definitions(module)
        if isinstance(node, ast.ClassDef) == (kind is ast.ClassDef) and lines > limit
    }


def _long_modules() -> dict[str, int]:
    return {m.name: m.lines for m in modules().values() if m.lines > MAX_MODULE_LINES}


def _module_cycles() -> list[frozenset[str]]:
    return _cycles({m.name: m.imports for m in modules().values()})


def _package_cycles() -> list[frozenset[str]]:
    graph: dict[str, set[str]] = {}
    for module in modules().values():
        here = _package(module.name)
        graph.setdefault(here, set()).update(
            _package(target) for target in module.imports if _package(target) != here
        )
    return _cycles(graph)


def test_no_function_is_over_80_lines() -> None:
    long = {
        f"{name} ({lines})"
        for name, lines in _long(None, MAX_FUNCTION_LINES).items()
        if name not in ALLOWED_LONG_FUNCTIONS
    }
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {sorted(long)}"


def test_no_class_is_over_400_lines() -> None:
    long = {
        f"{name} ({lines})"
        for name, lines in _long(ast.ClassDef, MAX_CLASS_LINES).items()
        if name not in ALLOWED_LONG_CLASSES
    }
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {sorted(long)}"


def test_no_module_is_over_500_lines() -> None:
    long = {
        f"{name} ({lines})"
        for name, lines in _long_modules().items()
        if name not in ALLOWED_LONG_MODULES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {sorted(long)}"


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = [sorted(c) for c in _module_cycles() if c not in ALLOWED_MODULE_CYCLES]
    assert not cycles, f"modules that import each other: {cycles}"


def test_no_two_packages_import_each_other() -> None:
    cycles = [sorted(c) for c in _package_cycles() if c not in ALLOWED_PACKAGE_CYCLES]
    assert not cycles, f"packages that import each other: {cycles}"


def test_the_allow_lists_are_not_stale() -> None:
    # A fixed offender leaves its list, so the list only ever shrinks.
    stale = (
        (ALLOWED_LONG_FUNCTIONS - set(_long(None, MAX_FUNCTION_LINES)))
        | (ALLOWED_LONG_CLASSES - set(_long(ast.ClassDef, MAX_CLASS_LINES)))
        | (ALLOWED_LONG_MODULES - set(_long_modules()))
        | {" <-> ".join(sorted(c)) for c in ALLOWED_MODULE_CYCLES - set(_module_cycles())}
        | {" <-> ".join(sorted(c)) for c in ALLOWED_PACKAGE_CYCLES - set(_package_cycles())}
    )
    assert not stale, f"no longer offenders, remove them from the allow-lists: {sorted(stale)}"


def test_the_checks_see_the_code() -> None:
    # A walk that found nothing would pass every check above.
    assert "p2pilot.cli.main" in modules()
    assert "p2pilot.simulator.server" in modules()["p2pilot.cli.simulate"].imports
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
