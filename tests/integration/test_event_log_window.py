"""Reading a time window of the event log (a shift's, for its KPIs) from a real store: only the window,
a page at a time, across the gaps retention leaves in seq."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from floorgate.edge.store import Store, make_engine
from floorgate.edge.store.queries import events_since
from floorgate.edge.store.records import Batch, EventRecord
from floorgate.edge.store.schema import EVENTS

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
LOGGED = 1000  # events 1..1000, ten seconds apart
GAP = range(400, 600)  # left by retention: events still owed to an endpoint stayed around it


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'fg.db'}"))
    store.create_schema()
    store.commit(
        Batch(
            events=[
                EventRecord(
                    seq=n,
                    id=f"evt_{n}",
                    type="pick.confirmed",
                    occurred_at=T0 + 10 * n,
                    order_id=None,
                    data={},
                )
                for n in range(1, LOGGED + 1)
            ]
        )
    )
    with store.engine.begin() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.seq.in_(list(GAP))))
    yield store
    store.close()


def statements(store: Store) -> list[str]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    return seen


@pytest.mark.parametrize(
    ("since", "through", "expected"),
    [
        (T0 + 10 * 800, 900, range(800, 901)),  # from the window's first event, up to the last one read
        (T0 + 10 * 799.5, 900, range(800, 901)),  # between two events
        (T0 + 10 * 450, LOGGED, range(600, LOGGED + 1)),  # the window starts in the gap
        (T0, 150, range(1, 151)),  # before the log: all of it
        (T0 + 10 * (LOGGED + 1), LOGGED, range(0)),  # after the last event: nothing
    ],
)
def test_only_the_window_is_read_in_pages(store: Store, since: float, through: int, expected: range) -> None:
    seen = statements(store)
    page = 25

    seqs = [r.seq for r in events_since(store.engine, since, through_seq=through, page=page)]

    assert seqs == [n for n in expected if n not in GAP]
    # A binary search by seq (about log2 of the log's size, plus the first seq), then the window's pages
    # and the empty one that ends them.
    assert len(seen) <= math.ceil(math.log2(LOGGED)) + 2 + len(seqs) // page + 1
