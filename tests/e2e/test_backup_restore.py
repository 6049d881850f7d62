"""`floorgate backup` and `floorgate restore` against a real `floorgate run` while the modules press."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.mqtt_observer import MqttObserver
from tests.support.store_files import floorgate, lights_sent, stored_lights
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

BINS = (("A-01", "M-A-01", "SKU-1"), ("A-02", "M-A-02", "SKU-2"), ("A-03", "M-A-03", "SKU-3"))


async def floorgate_async(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "floorgate.edge.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def seed(erp: httpx.Client) -> None:
    for code, module, sku in BINS:
        assert erp.put(f"/items/{sku}", json={"description": sku}).status_code == 201
        located = erp.put(
            f"/locations/{code}", json={"zone": "A", "module": module, "sku": sku, "on_hand": 100_000}
        )
        assert located.status_code == 201, located.text


def events(api: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while page := api.get(
        "/events", params={"after": found[-1]["seq"] if found else 0, "limit": 1000}
    ).json()["events"]:
        found.extend(page)
    return found


async def pick_orders(edge: EdgeProcess, bank: ModuleBank, picked: list[str], stop: asyncio.Event) -> None:
    """Order after order, each line pressed on its module, until `stop`: presses flowing into the edge."""
    with edge.client("erp") as erp:
        number = 0
        while not stop.is_set():
            number += 1
            order_id = f"O-{number}"
            lines = [
                {"line_id": f"L{n}", "sku": sku, "qty": 1, "location": code}
                for n, (code, _, sku) in enumerate(BINS, 1)
            ]
            order = {"order_id": order_id, "tote": f"T-{number}", "lines": lines}
            created = await asyncio.to_thread(erp.post, "/orders", json=order)
            assert created.status_code == 201, created.text
            started = await asyncio.to_thread(
                erp.post, f"/orders/{order_id}/start", json={"zone": "A", "operator": "ann"}
            )
            assert started.status_code == 200, started.text
            for _, module, _ in BINS:
                await wait_until(lambda m=module: bank.state(m).display == "1", what=f"{module} lit")
                await bank.press(module, Button.CONFIRM)
            await wait_until(
                lambda o=order_id: erp.get(f"/orders/{o}").json()["status"] == "picked", what="order picked"
            )
            picked.append(order_id)


def read_backup(path: Path) -> tuple[str, list[tuple[int, str]], dict[str, dict[str, Any]]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        log = [(int(seq), str(id_)) for seq, id_ in db.execute("SELECT seq, id FROM events ORDER BY seq")]
    return check, log, stored_lights(path)


async def test_a_backup_of_a_running_edge_is_whole_and_a_restore_brings_its_lights_back(
    edge: EdgeProcess, bank: ModuleBank, mosquitto: Mosquitto, site: str, tmp_path: Path
) -> None:
    with edge.client("erp") as erp:
        seed(erp)
    picked: list[str] = []
    stop = asyncio.Event()
    picking = asyncio.create_task(pick_orders(edge, bank, picked, stop))
    try:
        await wait_until(lambda: len(picked) >= 2 or picking.done(), timeout=30, what="two orders picked")
        with edge.client("viewer") as viewer:
            before = events(viewer)[-1]["seq"]
        backup = tmp_path / "backup.db"
        code, output = await floorgate_async("backup", "--config", str(edge.config_path), str(backup))
        assert code == 0, output
        assert "passed SQLite's integrity check" in output
        # Presses keep flowing after the copy: its snapshot is one moment of a running floor.
        done = len(picked)
        await wait_until(lambda: len(picked) >= done + 2 or picking.done(), timeout=30, what="more picks")
        refused = floorgate("restore", "--config", str(edge.config_path), str(backup))
        assert refused.returncode != 0
        assert "an edge is running on the store" in refused.stderr, refused.stderr
        second = floorgate("run", "--config", str(edge.config_path))
        assert second.returncode == 2
        assert "an edge is running on the store" in second.stderr, second.stderr
    finally:
        stop.set()
        await picking
    with edge.client("viewer") as viewer:
        log_then = events(viewer)

    check, backed_up, lights = read_backup(backup)
    assert check == "ok"
    last = backed_up[-1][0]
    assert last >= before
    assert [seq for seq, _ in backed_up] == list(range(1, last + 1))
    assert backed_up == [(e["seq"], e["id"]) for e in log_then if e["seq"] <= last]
    assert log_then[-1]["seq"] > last  # the edge went on after the snapshot
    assert {"M-A-01", "M-A-02", "M-A-03"} <= set(lights)

    data = edge.workdir / "data"
    assert edge.stop() == 0
    # A clean stop copied the log in: floorgate.db alone holds every event.
    wal = data / "floorgate.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, edge.logs()[-3000:]
    alone = tmp_path / "alone" / "floorgate.db"
    alone.parent.mkdir()
    shutil.copy2(data / "floorgate.db", alone)
    with contextlib.closing(sqlite3.connect(alone)) as db:
        held = [(int(s), str(i)) for s, i in db.execute("SELECT seq, id FROM events ORDER BY seq")]
    assert held[: len(log_then)] == [(e["seq"], e["id"]) for e in log_then]

    # The restored edge on a broker of its own: on the first one the modules' acks of the commands sent
    # after the backup wait in the edge's persistent session, and would answer the re-sent lights.
    broker = Mosquitto().start()
    try:
        restored = EdgeProcess(workdir=tmp_path / "restored", site=site, mqtt_url=broker.url)
        restored.workdir.mkdir()
        restored.write_config()
        done_restore = floorgate("restore", "--config", str(restored.config_path), str(backup))
        assert done_restore.returncode == 0, done_restore.stderr
        assert f"events up to seq {last}" in done_restore.stdout
        async with MqttObserver(broker.url, f"floorgate/{site}/ptl/+/cmd") as observer:
            restored.start()
            try:
                with restored.client("viewer") as viewer:
                    assert events(viewer)[-1]["seq"] == last
                await lights_sent(observer, site, lights)
            finally:
                assert restored.stop() == 0
    finally:
        broker.stop()


def test_restore_refuses_a_file_that_is_not_a_floorgate_store(tmp_path: Path) -> None:
    edge = EdgeProcess(workdir=tmp_path, site="s1", mqtt_url="mqtt://127.0.0.1:1")
    edge.write_config()
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE things (id INTEGER)")
    refused = floorgate("restore", "--config", str(edge.config_path), str(other))
    assert refused.returncode == 1
    assert "is not a FloorGate store" in refused.stderr
    assert not (tmp_path / "data" / "floorgate.db").exists()
    missing = floorgate("backup", "--config", str(edge.config_path), str(tmp_path / "b.db"))
    assert missing.returncode == 1
    assert "there is no store at" in missing.stderr


def test_backup_of_a_postgresql_store_says_to_use_pg_dump(tmp_path: Path) -> None:
    edge = EdgeProcess(
        workdir=tmp_path,
        site="s1",
        mqtt_url="mqtt://127.0.0.1:1",
        extra_site='[store]\nurl = "postgresql+psycopg://fg:secret@127.0.0.1:1/fg"\n',
    )
    edge.write_config()
    for command in ("backup", "restore"):
        answer = floorgate(command, "--config", str(edge.config_path), str(tmp_path / "x.db"))
        assert answer.returncode == 2
        assert "pg_dump" in answer.stderr
        assert "secret" not in answer.stderr
