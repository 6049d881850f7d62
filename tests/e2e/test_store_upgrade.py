"""`floorgate run` and `check-config` on a store from before schema versions, and on one newer than the code."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from floorgate.edge.store.migrations import head_revision
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.mqtt_observer import MqttObserver
from tests.support.store_files import floorgate, lights_sent, store_from_a_later_release, stored_lights

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parents[1] / "fixtures" / "unversioned-store.db"


def fixture_events() -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(FIXTURE)) as db:
        return [(int(seq), str(id_)) for seq, id_ in db.execute("SELECT seq, id FROM events ORDER BY seq")]


def logged(edge: EdgeProcess, message: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in edge.logs().splitlines() if line.startswith("{")]
    return [r for r in records if r.get("msg") == message]


async def test_an_edge_on_a_store_from_before_schema_versions_copies_it_upgrades_it_and_lights_the_same_bins(
    mosquitto: Mosquitto, site: str, tmp_path: Path
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site=site, mqtt_url=mosquitto.url)
    edge.write_config()
    database = tmp_path / "data" / "floorgate.db"
    database.parent.mkdir()
    shutil.copy2(FIXTURE, database)
    lights = stored_lights(database)

    checked = floorgate("check-config", str(edge.config_path))
    assert checked.returncode == 0, checked.stderr
    assert (
        f"(schema at revision unversioned: the next start upgrades it to {head_revision()}, after a copy "
        "beside it)"
    ) in checked.stdout

    async with MqttObserver(mosquitto.url, f"floorgate/{site}/ptl/+/cmd") as observer:
        edge.start()
        try:
            await lights_sent(observer, site, lights)
            with edge.client("viewer") as viewer:
                page = viewer.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
            assert [(e["seq"], e["id"]) for e in page] == fixture_events()
        finally:
            assert edge.stop() == 0

    (backup,) = database.parent.glob("floorgate.db.before-upgrade-from-unversioned-*")
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM events").fetchone()[0] == len(fixture_events())
    copied = logged(edge, "store copied before its upgrade")
    assert [(r["backup"], r["revision"]) for r in copied] == [(str(backup), "unversioned")]
    upgraded = logged(edge, "upgrading the store's schema")
    assert [(r["from"], r["to"]) for r in upgraded] == [("unversioned", head_revision())]

    again = floorgate("check-config", str(edge.config_path))
    assert f"(schema at revision {head_revision()}, this release's newest)" in again.stdout, again.stderr


def test_a_store_newer_than_the_code_stops_run_and_check_config_with_what_to_do_and_no_traceback(
    tmp_path: Path,
) -> None:
    edge = EdgeProcess(workdir=tmp_path, site="s1", mqtt_url="mqtt://127.0.0.1:1")
    edge.write_config()
    database = tmp_path / "data" / "floorgate.db"
    store_from_a_later_release(database)

    ran = floorgate("run", "--config", str(edge.config_path))
    assert ran.returncode == 2, ran.stderr
    assert f"cannot start: the store at {database} has schema revision 9999, newer than" in ran.stderr
    assert "floorgate restore" in ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr

    checked = floorgate("check-config", str(edge.config_path))
    assert checked.returncode == 2
    assert f"the edge cannot start on its store: the store at {database} has schema revision 9999" in (
        checked.stderr
    )
    assert "Traceback" not in checked.stderr, checked.stderr
