"""The architecture's rules, checked by walking the imports of every module (docs/architecture.md).

Each rule names what broke it: a layer that reaches the wrong way, a cycle, a simulator on the
production path, a generic import name, or a file grown past a room's size.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "floorgate"
PACKAGES = ("core", "devices", "edge", "web", "firmware_sim")

# Which top-level packages each one may import. Arrows point one way: the domain at the bottom, device
# adapters and the web beside each other, the edge composing them, the simulators (and the demo) on top.
ALLOWED = {
    "core": set(),
    "devices": {"core"},
    "web": {"core"},
    "edge": {"core", "devices", "web"},
    "firmware_sim": {"core", "devices", "edge"},
}
# Pure libraries core/ may use besides the standard library.
CORE_ALLOWED_THIRD_PARTY = {"biip"}
# Standard-library modules that do I/O or read the clock: not for core/.
CORE_FORBIDDEN_STDLIB = {
    "asyncio",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "time",
    "logging",
    "os",
    "pathlib",
    "random",
    "http",
    "urllib",
    "ssl",
    "select",
    "selectors",
}
# Libraries that belong to one room only.
# The edge speaks MQTT through its own client (devices/mqtt/); aiomqtt, paho and the embedded amqtt broker
# are the simulators' and the demo's.
SIMULATOR_LIBRARIES = {"aiomqtt", "paho", "amqtt"}
ROOM_LIBRARIES = {
    "devices": {"sqlmodel", "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", *SIMULATOR_LIBRARIES},
    "edge": SIMULATOR_LIBRARIES,
    "web": {"sqlmodel", "sqlalchemy", "alembic", "serial", "evdev", *SIMULATOR_LIBRARIES},
}
# The modules of the domain the web may read: messages and entities, never the live aggregate.
WEB_MAY_USE_FROM_CORE = {"commands", "events", "errors", "instructions", "model", "barcodes"}
# What `floorgate run` loads: none of it may reach the simulators.
RUN_PATH = ("floorgate.edge.cli", "floorgate.edge.runtime")
# A room's file stays under this many lines, unless it is one cohesive thing listed here with why.
MAX_LINES = 600
LONG_FILES: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # dotted module that imports, e.g. floorgate.edge.writer
    path: Path
    target: str  # dotted module (or module.name) it names
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAMESPACE, *parts])


def product_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def imports_in(path: Path) -> Iterator[Import]:
    source = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, path, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield Import(source, path, f"{node.module}.{alias.name}", node.lineno)


ALL_IMPORTS = [imp for path in product_files() for imp in imports_in(path)]
MODULES = {module_name(path) for path in product_files()}


def resolve(target: str) -> str | None:
    """The product module an import names (`from a.b import c` is module a.b.c or a name in a.b)."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def package_of(module: str) -> str:
    """The top-level package of a dotted name; "" for the namespace root (its version, nothing more)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else ""


def where(imp: Import) -> str:
    return f"{imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}"


def graph(modules: set[str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for imp in ALL_IMPORTS:
        target = resolve(imp.target)
        if imp.source in edges and target in edges and target != imp.source:
            edges[imp.source].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each a cycle to name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_of_our_code_goes_through_the_floorgate_namespace() -> None:
    """`import core` must never mean FloorGate: an installed wheel claims only `floorgate`."""
    offending = []
    for folder in (*PACKAGES, "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for imp in imports_in(path):
                if imp.target.split(".")[0] in PACKAGES:
                    offending.append(where(imp))
    assert offending == []


def test_tests_share_their_pieces_through_tests_support_not_each_other() -> None:
    """A fake, a fixture or a seed two test files need lives in tests/support/ or a conftest.py."""
    offending = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for imp in imports_in(path):
            parts = imp.target.split(".")
            if parts[0] == "tests" and any(part.startswith("test_") for part in parts[1:]):
                offending.append(where(imp))
    assert offending == []


def test_core_imports_only_the_standard_library_and_pure_libraries() -> None:
    offending = []
    for imp in ALL_IMPORTS:
        if package_of(imp.source) != "core":
            continue
        top = imp.target.split(".")[0]
        if top == NAMESPACE:
            if package_of(imp.target) not in {"", "core"}:
                offending.append(where(imp))
        elif top in CORE_FORBIDDEN_STDLIB or (
            top not in sys.stdlib_module_names and top not in CORE_ALLOWED_THIRD_PARTY and top != "__future__"
        ):
            offending.append(where(imp))
    assert offending == []


def test_packages_import_only_the_layers_below_them() -> None:
    offending = [
        where(imp)
        for imp in ALL_IMPORTS
        if imp.target.startswith(f"{NAMESPACE}.")
        and package_of(imp.target) not in {"", package_of(imp.source)}
        and package_of(imp.target) not in ALLOWED[package_of(imp.source)]
    ]
    assert offending == []


@pytest.mark.parametrize("package", sorted(ROOM_LIBRARIES))
def test_rooms_keep_to_their_own_libraries(package: str) -> None:
    offending = [
        where(imp)
        for imp in ALL_IMPORTS
        if package_of(imp.source) == package and imp.target.split(".")[0] in ROOM_LIBRARIES[package]
    ]
    assert offending == []


def test_the_web_reads_the_domains_messages_never_its_live_aggregate() -> None:
    offending = [
        where(imp)
        for imp in ALL_IMPORTS
        if package_of(imp.source) == "web"
        and imp.target.startswith(f"{NAMESPACE}.core.")
        and imp.target.split(".")[2] not in WEB_MAY_USE_FROM_CORE
    ]
    assert offending == []


def test_top_level_packages_form_no_cycle() -> None:
    edges: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for imp in ALL_IMPORTS:
        target = resolve(imp.target)
        if target is not None and package_of(target) not in {"", package_of(imp.source)}:
            edges[package_of(imp.source)].add(package_of(target))
    assert cycles(edges) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_form_no_cycle_inside_a_package(package: str) -> None:
    inside = {module for module in MODULES if package_of(module) == package}
    assert cycles(graph(inside)) == []


def test_the_benchmark_forms_no_cycle() -> None:
    """bench/'s phases share modules of their own and never import the runner (or each other) back."""
    paths = sorted((ROOT / "bench").glob("*.py"))
    names = {path.stem: f"bench.{path.stem}" for path in paths if path.stem != "__init__"}
    edges: dict[str, set[str]] = {name: set() for name in names.values()}
    for path in paths:
        if path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for target in targets:
                if target in edges and target != names[path.stem]:
                    edges[names[path.stem]].add(target)
    assert cycles(edges) == []


def test_the_run_path_never_reaches_the_simulators() -> None:
    """Statically: nothing `floorgate run` can import, even inside a function, is simulator code."""
    edges = graph(MODULES)
    seen: set[str] = set()
    todo = list(RUN_PATH)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(edges[module])
        # a package's modules run its __init__ first
        parent = module.rpartition(".")[0]
        if parent in MODULES:
            todo.append(parent)
    assert sorted(m for m in seen if package_of(m) == "firmware_sim") == []


def test_floorgate_run_loads_no_simulator_module() -> None:
    """Dynamically: importing the run path in a fresh interpreter leaves no simulator in sys.modules."""
    probe = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in RUN_PATH)
        + "print('\\n'.join(m for m in sys.modules if m.startswith('floorgate.firmware_sim')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == []


def test_no_product_file_grows_past_a_rooms_size() -> None:
    long = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in product_files()
        if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert {path: n for path, n in long.items() if path not in LONG_FILES} == {}
