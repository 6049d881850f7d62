"""The built wheel: one import namespace, `floorgate`, so an installed FloorGate never claims `core` or `web`;
installed with its dependencies from the package index, its command runs, without the optional extras; with
the [demo] extra, `floorgate demo` serves and stops cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.brokers import free_port
from tests.support.edge_process import demo_arguments, interrupt
from tests.support.waiting import wait_until_sync

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "devices", "edge", "web", "firmware_sim", "src")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree (the build writes its own files; not into the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
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
    # The store's schema revisions and the file Alembic runs to apply them: an installed edge migrates.
    assert "floorgate/edge/store/migrations/env.py" in names
    revisions = {p.name for p in (ROOT / "edge" / "store" / "migrations" / "versions").glob("r*.py")}
    assert revisions
    assert {f"floorgate/edge/store/migrations/versions/{name}" for name in revisions} <= set(names)
    for vendored in (
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/swagger-ui.css",
        "swagger-ui/LICENSE",
        "redoc/redoc.standalone.js",
        "redoc/LICENSE",
    ):
        assert f"floorgate/web/static/vendor/{vendored}" in names


def test_the_wheel_carries_the_license(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert "License-File: LICENSE" in text
    (license_file,) = [name for name in archive.namelist() if name.endswith(".dist-info/licenses/LICENSE")]
    assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()


def fresh_venv(folder: Path, requirement: str) -> Path:
    """A new virtual environment in `folder` with `requirement` and its dependencies from the package index."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    subprocess.run(
        [
            str(folder / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ],
        check=True,
        timeout=600,
    )
    return folder


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with no extras: what `pip install floorgate` gives an edge box."""
    return fresh_venv(tmp_path_factory.mktemp("venv"), str(wheel))


@pytest.fixture(scope="module")
def installed_for_the_demo(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel with the [demo] extra (the embedded broker), as the README's first command installs it."""
    return fresh_venv(tmp_path_factory.mktemp("demo-venv"), f"{wheel}[demo]")


def test_installed_with_its_dependencies_the_command_runs_and_checks_the_example_site(
    installed: Path, tmp_path: Path
) -> None:
    floorgate = installed / "bin" / "floorgate"
    version = subprocess.run([str(floorgate), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().startswith("floorgate ")
    assert "unknown" not in version.stdout
    site = tmp_path / "site.toml"
    shutil.copy2(ROOT / "docs" / "site.example.toml", site)
    # The secrets the example takes from the environment, as an edge box's service unit would set them.
    env = {
        **os.environ,
        "FLOORGATE_MQTT_PASSWORD": "mqtt-password",
        "FLOORGATE_ERP_TOKEN": "erp-token-from-env",
        "FLOORGATE_WEBHOOK_SECRET": "whsec_c2VjcmV0LWZyb20tdGhlLWVudmlyb25tZW50",
    }
    checked = subprocess.run(
        [str(floorgate), "check-config", str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert checked.returncode == 0, checked.stderr
    assert f"{site}: OK" in checked.stdout


def test_an_installed_wheel_upgrades_a_store_from_before_schema_versions_to_its_head(
    installed: Path, tmp_path: Path
) -> None:
    database = tmp_path / "floorgate.db"
    shutil.copy2(ROOT / "tests" / "fixtures" / "unversioned-store.db", database)
    upgrade = (
        "from floorgate.edge.store import Store, make_engine\n"
        f"store = Store(make_engine('sqlite:///{database}'))\n"
        "store.create_schema()\n"
        "store.close()\n"
    )
    subprocess.run([str(installed / "bin" / "python"), "-c", upgrade], cwd=tmp_path, check=True, timeout=120)
    with contextlib.closing(sqlite3.connect(database)) as db:
        recorded = [row[0] for row in db.execute("SELECT version_num FROM alembic_version")]
    heads = sorted(p.name[1:5] for p in (ROOT / "edge" / "store" / "migrations" / "versions").glob("r*.py"))
    assert recorded == heads[-1:]
    assert list(tmp_path.glob("floorgate.db.before-upgrade-from-unversioned-*"))


def test_a_production_install_has_neither_the_demo_broker_nor_evdev(installed: Path, tmp_path: Path) -> None:
    probe = "import importlib.util\nfor name in ('amqtt', 'evdev'):\n    print(name, importlib.util.find_spec(name))\n"
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["amqtt", "None", "evdev", "None"]


def test_in_a_fresh_environment_import_core_is_not_floorgates(installed: Path, tmp_path: Path) -> None:
    venv = installed
    python = venv / "bin" / "python"
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


def test_installed_with_the_demo_extra_a_short_demo_serves_and_stops_on_ctrl_c(
    installed_for_the_demo: Path, tmp_path: Path
) -> None:
    http_port, mqtt_port = free_port(), free_port()
    out = tmp_path / "demo.out"
    command = [
        str(installed_for_the_demo / "bin" / "floorgate"),
        *demo_arguments(http_port=http_port, mqtt_port=mqtt_port, data_dir=tmp_path / "data"),
    ]
    # From an empty folder, so nothing of the checkout can be imported in place of the installed wheel.
    with out.open("wb") as sink:
        demo = subprocess.Popen(command, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            if demo.poll() is not None:
                raise AssertionError(f"the demo exited with {demo.returncode}:\n{out.read_text()[-3000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(healthy, timeout=90, interval=0.2, what="the installed demo's /healthz to answer 200")
        page = httpx.get(f"http://127.0.0.1:{http_port}/docs", timeout=10)
        assert page.status_code == 200
        assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
        bundle = httpx.get(
            f"http://127.0.0.1:{http_port}/static/vendor/swagger-ui/swagger-ui-bundle.js", timeout=10
        )
        assert bundle.status_code == 200, "expected the wheel to carry the API docs' own files"
    finally:
        code = interrupt(demo)
    assert code == 0, out.read_text()[-3000:]
