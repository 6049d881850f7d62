"""A command that makes a value the store refuses: set aside as an exception, and the floor goes on.

The adapters and the API validate what they pass on, so these commands come from a bug upstream of the
writer. Such a batch would fail on every retry; held like a store outage it would stop the floor for
good, and restarted, the unacknowledged device messages would bring it straight back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor, Outcome
from floorgate.core.model import ExceptionStatus
from floorgate.edge.store import Store, StoreError, StoreFailure, make_engine
from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.writer import CommandUnstorable, Writer
from floorgate.web.app import create_app
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

TOO_BIG = 2**64  # past SQLite's 64-bit INTEGER: the driver refuses to bind it
DEADLINE_S = 30  # a command held instead of set aside would never be answered


def too_big(code: str, *, message_id: str | None = None) -> cmd.UpsertLocation:
    return cmd.UpsertLocation(
        message_id=message_id, code=code, zone="A", module="M2", sku="S2", on_hand=TOO_BIG
    )


def open_store(path: Path) -> Store:
    store = Store(make_engine(f"sqlite:///{path}"))
    store.create_schema()
    return store


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[tuple[Writer, Path]]:
    db = tmp_path / "fg.db"
    store = open_store(db)
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq)
    task = asyncio.create_task(writer.run(), name="writer")
    await writer.execute(cmd.DefineZone(zone="A"))
    await writer.execute(cmd.UpsertLocation(code="A-01", zone="A", module="M1", sku="S1", on_hand=5))
    yield writer, db
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def stored(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(sql, args).fetchall()


def settled_into(log: list[str], name: str) -> Callable[[], None]:
    return lambda: log.append(name)


async def test_a_command_the_store_refuses_is_kept_as_an_exception_and_the_rest_of_its_batch_commits(
    floor: tuple[Writer, Path],
) -> None:
    writer, db = floor
    settled: list[str] = []
    # One batch: a device event before and after the bad command, all queued before the writer runs.
    # (Scanners: a module no location names would not become a device.)
    before = cmd.ReportDeviceStatus(message_id="m-1", device="M7", kind="scanner", online=True)
    bad = too_big("A-02", message_id="m-2")
    after = cmd.ReportDeviceStatus(message_id="m-3", device="M8", kind="scanner", online=True)
    await writer.submit(before, on_commit=settled_into(settled, "before"))
    await writer.submit(bad, on_commit=settled_into(settled, "bad"))
    await writer.submit(after, on_commit=settled_into(settled, "after"))
    await wait_until(lambda: len(settled) == 3, what="all three settled")

    assert sorted(settled) == ["after", "bad", "before"]  # each exactly once
    assert stored(db, "SELECT id FROM devices WHERE id IN ('M7', 'M8') ORDER BY id") == [("M7",), ("M8",)]
    assert stored(db, "SELECT code FROM locations WHERE code = 'A-02'") == []  # nothing of it half-stored
    assert "A-02" not in writer.floor.locations
    kept = [x for x in writer.floor.exceptions.values() if x.kind == "unstorable_command"]
    assert len(kept) == 1
    assert kept[0].status is ExceptionStatus.OPEN
    assert "UpsertLocation" in kept[0].message
    assert "too large" in kept[0].message
    assert str(TOO_BIG) in str(kept[0].detail["command"])  # the command itself, to be entered again
    assert kept[0].device == "M2"
    assert writer.stats.unstorable == 1
    assert writer.stats.commands == 2 + 3  # the fixture's two and these three, each counted once
    assert writer.store_failure is None
    # Its message id is remembered with the exception: a redelivery is a duplicate, not a second exception.
    assert stored(db, "SELECT id FROM inbound_ids WHERE id = 'm-2'") == [("m-2",)]
    await writer.submit(bad, on_commit=settled_into(settled, "redelivered"))
    await wait_until(lambda: "redelivered" in settled, what="the redelivery settled")
    assert len([x for x in writer.floor.exceptions.values() if x.kind == "unstorable_command"]) == 1

    # And the floor goes on: the next command commits as usual, and all of it survives a restart.
    await writer.execute(cmd.UpsertLocation(code="A-03", zone="A", module="M3", sku="S3", on_hand=1))
    reloaded = open_store(db).load().floor
    assert {"A-01", "A-03"} <= set(reloaded.locations)
    assert "A-02" not in reloaded.locations
    assert [x.id for x in reloaded.exceptions.values() if x.kind == "unstorable_command"] == [kept[0].id]


async def test_a_caller_is_told_the_command_was_set_aside_and_which_exception_keeps_it(
    floor: tuple[Writer, Path],
) -> None:
    writer, db = floor
    with pytest.raises(CommandUnstorable) as refused:
        await asyncio.wait_for(writer.execute(too_big("A-02")), timeout=DEADLINE_S)
    exception_id = refused.value.exception_id
    assert exception_id is not None
    assert writer.floor.exceptions[exception_id].kind == "unstorable_command"
    assert refused.value.failure.cause is StoreFailure.UNSTORABLE
    assert f"kept as exception {exception_id}" in str(refused.value)
    assert stored(db, "SELECT kind FROM exceptions WHERE id = ?", exception_id) == [("unstorable_command",)]


async def test_two_commands_set_aside_are_two_exceptions_each_with_its_own_command(
    floor: tuple[Writer, Path],
) -> None:
    writer, _ = floor
    for code in ("A-02", "A-03"):
        with pytest.raises(CommandUnstorable):
            await asyncio.wait_for(writer.execute(too_big(code)), timeout=DEADLINE_S)
    kept = sorted(
        (x for x in writer.floor.exceptions.values() if x.kind == "unstorable_command"), key=lambda x: x.id
    )
    assert ["A-02" in str(kept[0].detail["command"]), "A-03" in str(kept[1].detail["command"])] == [
        True,
        True,
    ]


async def test_a_command_whose_device_id_utf8_cannot_encode_is_kept_with_the_id_escaped(
    floor: tuple[Writer, Path],
) -> None:
    # An unknown module raises an exception naming it; with a lone surrogate in its id, that cannot be
    # stored, and the exception that keeps the command must not carry the same id as it is.
    writer, db = floor
    settled: list[str] = []
    await writer.submit(
        cmd.PressButton(message_id="p-1", module="M\ud800", button=cmd.Button.CONFIRM),
        on_commit=settled_into(settled, "press"),
    )
    await wait_until(lambda: settled == ["press"], what="the press settled")
    kept = [x for x in writer.floor.exceptions.values() if x.kind == "unstorable_command"]
    assert [x.device for x in kept] == ["M\\ud800"]
    assert stored(db, "SELECT device FROM exceptions WHERE kind = 'unstorable_command'") == [("M\\ud800",)]


async def test_a_store_that_refuses_even_the_exception_holds_the_command_unacknowledged_like_an_outage(
    floor: tuple[Writer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store that refuses every batch for what it holds is a fault of the store (or of the edge's
    # writing), not of one command: nothing may be acknowledged that is not on disk.
    writer, db = floor
    real_commit = writer.store.commit

    def refuse_everything(batch):  # type: ignore[no-untyped-def]
        raise StoreError("refused", cause=StoreFailure.UNSTORABLE, location=str(db))

    monkeypatch.setattr(writer.store, "commit", refuse_everything)
    settled: list[str] = []
    await writer.submit(
        cmd.ReportDeviceStatus(message_id="m-1", device="M7", kind="ptl", online=True),
        on_commit=settled_into(settled, "status"),
    )
    failure = await asyncio.wait_for(writer.store_failed(), timeout=10)
    assert failure.cause is StoreFailure.UNSTORABLE
    assert settled == []  # held: the broker still has the message
    assert stored(db, "SELECT count(*) FROM exceptions") == [(0,)]

    monkeypatch.setattr(writer.store, "commit", real_commit)
    await wait_until(
        lambda: settled == ["status"], what="the held exception committed and its message settled"
    )
    assert writer.store_failure is None
    assert stored(db, "SELECT kind FROM exceptions") == [("unstorable_command",)]


async def test_the_api_answers_a_request_it_set_aside_with_500_naming_the_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No request body passes validation with a value the store refuses; a rule that made one (a bug) is
    # stood in for here by a floor that turns the location's stock into one (every floor the writer
    # rebuilds from the store, too).
    original = Floor.handle

    def overflowing(self: Floor, command: cmd.Command, now: float) -> Outcome:
        outcome = original(self, command, now)
        if isinstance(command, cmd.UpsertLocation) and command.code == "A-66":
            self.locations["A-66"].on_hand = TOO_BIG
        return outcome

    monkeypatch.setattr(Floor, "handle", overflowing)
    store = open_store(tmp_path / "fg.db")
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq)
    task = asyncio.create_task(writer.run())
    await writer.execute(cmd.DefineZone(zone="A"))
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    tokens = {"e": Role.ERP}
    app = create_app(
        web_context(site_id="t", edge_id="e", writer=writer, store=store, tokens=tokens, hub=hub)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge/api/v1"
        ) as client:
            headers = {"Authorization": "Bearer e"}
            r = await client.put("/locations/A-66", json={"zone": "A", "on_hand": 1}, headers=headers)
            assert r.status_code == 500, r.text
            detail = r.json()["detail"]
            assert detail["cause"] == "unstorable"
            assert f"kept as exception {detail['exception_id']}" in detail["message"]
            r = await client.get("/exceptions", headers=headers)
            assert [x["kind"] for x in r.json()] == ["unstorable_command"]
            r = await client.put("/locations/A-01", json={"zone": "A", "on_hand": 1}, headers=headers)
            assert r.status_code == 201, r.text
            metrics = (await client.get("/metrics", headers=headers)).text.splitlines()
            assert "floorgate_commands_unstorable_total 1" in metrics
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
