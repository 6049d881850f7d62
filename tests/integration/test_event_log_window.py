"""Reading a time window of the event log (a shift's, for its KPIs) from a real store: only the window,
a page at a time, across the gaps retention leaves in seq."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from floorgate.edge.store import Store, make_engine
from floorgate.edge.store.queries import events_since
from floorgate.edge.store.records import Batch, EventRecord
from floorgate.edge.store.schema import EVENTS

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
LOGGED = 1000  # events 1..1000, ten seconds apart: picks (even seqs) and order starts (odd ones)
GAP = range(400, 600)  # left by retention: events still owed to an endpoint stayed around it


def logged(n: int) -> EventRecord:
    kind, data = ("pick.confirmed", {"operator": "ann"}) if n % 2 == 0 else ("order.started", {"order": "O"})
    return EventRecord(seq=n, id=f"evt_{n}", type=kind, occurred_at=T0 + 10 * n, order_id=None, data=data)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(make_engine(store_url))
    store.create_schema()
    store.commit(Batch(events=[logged(n) for n in range(1, LOGGED + 1)]))
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

    read = list(events_since(store.engine, since, through_seq=through, page=page))

    seqs = [n for n in expected if n not in GAP]
    assert read == [(logged(n).type, logged(n).data, logged(n).occurred_at) for n in seqs]
    # A binary search by seq (about log2 of the log's size, plus the first seq), then the window's pages
    # and the empty one that ends them.
    assert len(seen) <= math.ceil(math.log2(LOGGED)) + 2 + len(seqs) // page + 1


def test_with_data_of_only_those_types_come_with_their_data(store: Store) -> None:
    read = list(events_since(store.engine, T0 + 10 * 700, through_seq=705, data_of={"pick.confirmed"}))

    assert read == [
        (logged(n).type, logged(n).data if n % 2 == 0 else {}, logged(n).occurred_at) for n in range(700, 706)
    ]
