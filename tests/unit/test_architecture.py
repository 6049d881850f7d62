"""The layering rules of FloorGate, checked by walking the imports of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
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
OUR_PACKAGES = {"core", "devices", "edge", "web", "firmware_sim"}


def imports_of(package: str) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module.split(".")[0]))
    return found


def test_core_imports_only_the_standard_library_and_pure_libraries() -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in imports_of("core")
        if name in CORE_FORBIDDEN_STDLIB
        or (name in OUR_PACKAGES and name != "core")
        or (
            name not in sys.stdlib_module_names
            and name not in OUR_PACKAGES
            and name not in CORE_ALLOWED_THIRD_PARTY
            and name != "__future__"
        )
    ]
    assert offending == []


@pytest.mark.parametrize("package", ["devices", "firmware_sim"])
def test_device_code_never_imports_the_store_or_the_web(package: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in imports_of(package)
        if name in {"edge", "web", "sqlmodel", "sqlalchemy", "fastapi"}
    ]
    assert offending == []


def test_web_does_not_reach_into_device_adapters() -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}" for path, name in imports_of("web") if name == "devices"
    ]
    assert offending == []
