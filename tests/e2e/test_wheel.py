"""The built wheel: one import namespace, `floorgate`, so an installed FloorGate never claims `core` or `web`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "devices", "edge", "web", "firmware_sim", "src")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree (the build writes its own files; not into the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for name in SOURCES:
        shutil.copytree(ROOT / name, tree / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(tree)],
        check=True,
        timeout=600,
    )
    (built,) = dist.glob("floorgate-*.whl")
    return built


def test_the_wheel_holds_only_the_floorgate_namespace_and_the_dashboard_assets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == {"floorgate"}
    for package in ("core", "devices", "edge", "web", "firmware_sim"):
        assert f"floorgate/{package}/__init__.py" in names
    assert "floorgate/web/static/dashboard.js" in names
    assert "floorgate/web/static/index.html" in names


def test_in_a_fresh_environment_import_core_is_not_floorgates(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300
    )
    probe = (
        "import importlib.util\n"
        "for name in ('core', 'devices', 'edge', 'web', 'firmware_sim'):\n"
        "    print(name, importlib.util.find_spec(name))\n"
        "import floorgate.core.model\n"
        "print('floorgate.core.model', floorgate.core.model.__file__)\n"
    )
    # From an empty folder, so the checkout's own folders cannot be found on the path.
    result = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    generic = ("core", "devices", "edge", "web", "firmware_sim")
    assert {name: lines[name] for name in generic} == dict.fromkeys(generic, "None")
    assert lines["floorgate.core.model"].startswith(str(venv))
