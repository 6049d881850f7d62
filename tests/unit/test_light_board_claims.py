"""Claims on the light board: other kinds of work share each bin's light and its one queue with order lines."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor
from floorgate.core.model import LineStatus
from tests.support.floor_commands import NOW, cleared, lights_on, make_floor, press, receive, restored_copy
from tests.support.light_takers import TAKER_COLOR, RecordingTaker

pytestmark = pytest.mark.unit


def taker_on(floor: Floor, kind: str = "probe") -> RecordingTaker:
    modules = {code: loc.module for code, loc in floor.locations.items() if loc.module is not None}
    taker = RecordingTaker(floor.board, modules, kind=kind)
    floor.board.register(taker)
    return taker


def test_a_claim_on_a_dark_bin_holds_its_light_at_once_and_no_order_line_holds_it() -> None:
    floor = make_floor()
    counts = taker_on(floor)

    shown = lights_on(counts.ask("A-01", "C1"))

    assert shown["M-A-01"].color == TAKER_COLOR
    assert counts.held["A-01", "C1"].lit
    assert floor.board.claim_of("A-01") == ("probe", "C1")
    assert floor.board.holder("A-01") is None
    light = floor.lights["M-A-01"]
    assert (light.order_id, light.line_id) == (None, None)


def test_a_claim_on_a_bin_lit_for_a_pick_waits_and_gets_the_light_when_the_pick_is_done() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    asked = counts.ask("A-01", "C1")

    assert lights_on(asked) == {}
    assert counts.held["A-01", "C1"].ticket is not None
    assert floor.board.claim_of("A-01") is None
    picked = press(floor, "M-A-01", "2")
    assert counts.turns == [("A-01", "C1")]
    assert lights_on(picked)["M-A-01"].color == TAKER_COLOR
    assert "M-A-01" not in cleared(picked)
    assert floor.board.claim_of("A-01") == ("probe", "C1")


def test_an_order_line_started_while_a_claim_holds_the_bin_waits_for_the_claim() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"))
    counts.ask("A-01", "C1")

    started = floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)

    assert lights_on(started) == {}
    line = floor.orders["O1"].lines["L1"]
    assert (line.status, line.ticket is not None) == (LineStatus.OPEN, True)
    released = counts.done("A-01", "C1")
    assert lights_on(released)["M-A-01"].color == started.reply["color"]
    assert lights_on(released)["M-A-01"].display == "2"
    assert floor.board.holder("A-01") == ("O1", "L1")
    assert floor.orders["O1"].lines["L1"].status is LineStatus.LIT


def test_lines_and_claims_take_a_bins_light_in_the_order_they_asked_for_it() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O2", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    counts.ask("A-01", "C1")
    floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)
    counts.ask("A-01", "C2")

    press(floor, "M-A-01", "1")
    assert floor.board.claim_of("A-01") == ("probe", "C1")
    counts.done("A-01", "C1")
    assert floor.board.holder("A-01") == ("O2", "L1")
    press(floor, "M-A-01", "1")
    assert floor.board.claim_of("A-01") == ("probe", "C2")
    assert counts.turns == [("A-01", "C1"), ("A-01", "C2")]


def test_a_withdrawn_queued_claim_leaves_the_queue_and_the_bin_goes_dark_after_the_pick() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    counts.ask("A-01", "C1")

    withdrawn = counts.done("A-01", "C1")
    picked = press(floor, "M-A-01", "1")

    assert withdrawn.instructions == []
    assert cleared(picked) == {"M-A-01"}
    assert counts.turns == []
    assert floor.board.claim_of("A-01") is None


def test_releasing_the_claim_holding_a_bin_with_nothing_waiting_turns_it_off() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    counts.ask("A-01", "C1")

    released = counts.done("A-01", "C1")

    assert cleared(released) == {"M-A-01"}
    assert floor.board.claim_of("A-01") is None
    assert not floor.lights["M-A-01"].lit


def test_lines_and_claims_draw_tickets_from_one_counter() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O2", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)
    counts.ask("A-01", "C1")

    line_ticket = floor.orders["O2"].lines["L1"].ticket
    claim_ticket = counts.held["A-01", "C1"].ticket
    assert line_ticket is not None
    assert claim_ticket is not None
    assert claim_ticket > line_ticket


def test_a_restored_floor_rebuilds_claims_holding_and_queued_in_ticket_order() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O2", ("L1", "SKU-1", 1, "A-01"))
    counts.ask("A-02", "C0")
    floor.handle(cmd.StartOrder(order_id="O1", zone="A", operator="ann"), NOW)
    counts.ask("A-01", "C1")
    floor.handle(cmd.StartOrder(order_id="O2", zone="A", operator="bob"), NOW)

    restored_counts: list[RecordingTaker] = []

    def register(copy: Floor) -> None:
        # Before the restore, as the floor builds its capabilities: the claims come with the state.
        taker = RecordingTaker(copy.board, dict(counts.modules), held=dict(counts.held))
        copy.board.register(taker)
        restored_counts.append(taker)

    copy = restored_copy(floor, prepare=register)
    (again,) = restored_counts

    assert copy.board.claim_of("A-02") == ("probe", "C0")
    press(copy, "M-A-01", "1")
    assert again.turns == [("A-01", "C1")]
    assert copy.board.claim_of("A-01") == ("probe", "C1")
    again.done("A-01", "C1")
    assert copy.board.holder("A-01") == ("O2", "L1")
    # The counter goes on past every restored ticket, of lines and claims alike.
    again.ask("A-02", "C2")
    ticket = again.held["A-02", "C2"].ticket
    claim_ticket = counts.held["A-01", "C1"].ticket
    assert ticket is not None
    assert claim_ticket is not None
    assert ticket > claim_ticket


def test_a_second_taker_of_one_kind_or_one_calling_itself_order_is_refused() -> None:
    floor = make_floor()
    taker_on(floor, kind="probe")

    with pytest.raises(ValueError, match="probe"):
        taker_on(floor, kind="probe")
    with pytest.raises(ValueError, match="order"):
        taker_on(floor, kind="order")


def test_a_bin_held_by_a_claim_keeps_its_module_and_zone_until_the_task_is_done() -> None:
    floor = make_floor()
    counts = taker_on(floor)
    counts.ask("A-01", "C1")

    with pytest.raises(Exception, match="probe task C1"):
        floor.handle(cmd.UpsertLocation(code="A-01", zone="A", module="M-OTHER", sku="SKU-1"), NOW)
    assert floor.locations["A-01"].module == "M-A-01"
