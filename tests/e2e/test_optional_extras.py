"""What runs without the optional extras: no evdev ([hid]) unless a real HID scanner is configured, no
amqtt ([demo]) unless the demo runs; and what the commands say when one is needed and missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def without_extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment (also the one EdgeProcess starts `floorgate run` in) where evdev and amqtt fail to
    import, as they do where they were never installed."""
    hidden = tmp_path / "hidden"
    for name in ("evdev", "amqtt"):
        (hidden / name).mkdir(parents=True)
        (hidden / name / "__init__.py").write_text(f'raise ImportError("{name} is not installed here")\n')
    path = os.pathsep.join(p for p in (str(hidden), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return {**os.environ, "PYTHONPATH": path}


def floorgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "floorgate.edge.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def station(device: str) -> str:
    return (
        '[[stations]]\nid = "START-A"\nkind = "zone"\nzone = "A"\n'
        f'scanner = {{ transport = "hid", device = "{device}" }}\n'
    )


def test_a_hid_scanner_on_a_real_device_without_evdev_stops_the_start_and_names_the_extra(
    tmp_path: Path, without_extras: dict[str, str]
) -> None:
    # /dev/null is a character device, as a scanner's /dev/input/... is.
    edge = EdgeProcess(
        workdir=tmp_path, site="s1", mqtt_url="mqtt://127.0.0.1:1", extra_site=station("/dev/null")
    )
    edge.write_config()
    answer = floorgate(without_extras, "run", "--config", str(edge.config_path))
    assert answer.returncode == 2
    assert 'pip install "floorgate[hid]"' in answer.stderr
    assert "/dev/null" in answer.stderr
    assert "Traceback" not in answer.stderr


def test_a_hid_scanner_on_a_fifo_runs_without_evdev(
    tmp_path: Path, mosquitto: Mosquitto, without_extras: dict[str, str]
) -> None:
    fifo = tmp_path / "scanner.fifo"
    os.mkfifo(fifo)
    edge = EdgeProcess(workdir=tmp_path, site="s2", mqtt_url=mosquitto.url, extra_site=station(str(fifo)))
    try:
        edge.start()
        with edge.client("viewer") as viewer:
            assert viewer.get("/stations").status_code == 200
    finally:
        assert edge.stop() == 0


def test_demo_without_amqtt_says_what_to_install(tmp_path: Path, without_extras: dict[str, str]) -> None:
    answer = floorgate(without_extras, "demo", "--data-dir", str(tmp_path / "demo"))
    assert answer.returncode == 2
    assert 'pip install "floorgate[demo]"' in answer.stderr
    assert "Traceback" not in answer.stderr
    helped = floorgate(without_extras, "--help")
    assert helped.returncode == 0
    assert "demo" in helped.stdout
