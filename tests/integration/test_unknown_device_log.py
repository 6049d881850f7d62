"""A flood of unknown device ids through a real writer and SQLite store: folded, stored, and said once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from floorgate.core import commands as cmd
from floorgate.core.exception_book import UNKNOWN_DEVICES_LISTED
from floorgate.edge.store import Store, make_engine
from floorgate.edge.writer import Writer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[Writer]:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    loaded = store.load()
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq)
    task = asyncio.create_task(writer.run(), name="writer")
    await writer.execute(cmd.DefineZone(zone="A"))
    yield writer
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    store.close()


async def test_the_log_says_once_that_unknown_ids_fold_and_once_that_they_overflow_the_list(
    writer: Writer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="floorgate.edge.writer")
    settled: list[int] = [0]
    ids = 5 * UNKNOWN_DEVICES_LISTED
    await writer.execute(cmd.PressButton(message_id="p0", module="U-0", button=cmd.Button.CONFIRM))
    for n in range(1, ids):
        press = cmd.PressButton(message_id=f"p{n}", module=f"U-{n}", button=cmd.Button.CONFIRM, display="1")
        await writer.submit(press, on_commit=lambda n=n: settled.append(n))  # type: ignore[misc]
    await wait_until(lambda: len(settled) == ids, what="every press committed")

    said = [r.getMessage() for r in caplog.records if r.name == "floorgate.edge.writer"]
    assert len(said) == 2, said
    assert "fold into one exception" in said[0]
    assert "more unknown device ids than the exception lists" in said[1]
    (folded,) = writer.floor.exceptions.values()
    assert folded.count == ids
    reloaded = writer.store.load().floor
    assert [(x.kind, x.count, x.detail) for x in reloaded.exceptions.values()] == [
        ("unknown_module", ids, folded.detail)
    ]
    assert set(reloaded.devices) == set()
