"""Finished orders leave the floor's memory after their retention; the store keeps them."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core.errors import CommandRejected, RejectionKind
from floorgate.core.floor import Floor, Outcome
from floorgate.core.instructions import LightBin
from floorgate.core.model import OrderStatus, RetiredOrder
from tests.support.floor_commands import NOW, make_floor, press, receive

pytestmark = pytest.mark.unit

HOUR = 3600.0


def retire(floor: Floor, before: float) -> int:
    retired = floor.handle(cmd.RetireFinishedOrders(before=before), before)
    assert not retired.events  # nothing changes that the store does not already hold
    assert not retired.instructions
    return int(retired.reply["retired"])


def pick_all(floor: Floor, order_id: str, zone: str = "A") -> None:
    floor.handle(cmd.StartOrder(order_id=order_id, zone=zone, operator="ann"), NOW)
    for _ in range(10):
        lit = [light.module for light in floor.lights.values() if light.order_id == order_id and light.lit]
        if not lit:
            break
        for module in lit:
            press(floor, module, floor.lights[module].display)
    assert floor.orders[order_id].status is OrderStatus.PICKED


def test_an_order_is_stamped_when_it_is_picked_or_cancelled_and_not_before() -> None:
    floor = make_floor()
    receive(floor, "P", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "C", ("L1", "SKU-2", 1, "A-02"))
    floor.handle(cmd.StartOrder(order_id="P", zone="A"), NOW)
    assert floor.orders["P"].finished_at is None

    press(floor, "M-A-01", "1")
    floor.handle(cmd.CancelOrder(order_id="C"), NOW + 5)

    assert floor.orders["P"].finished_at == NOW
    assert floor.orders["C"].finished_at == NOW + 5


def test_finished_orders_past_the_cutoff_leave_and_the_rest_stay() -> None:
    floor = make_floor()
    receive(floor, "OPEN", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "PICKING", ("L1", "SKU-2", 1, "A-02"), ("L2", "SKU-4", 1, "B-01"))
    receive(floor, "OLD-CANCELLED", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "NEW-CANCELLED", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.StartOrder(order_id="PICKING", zone="A"), NOW)
    floor.handle(cmd.CancelOrder(order_id="OLD-CANCELLED"), NOW)
    floor.handle(cmd.CancelOrder(order_id="NEW-CANCELLED"), NOW + 2 * HOUR)

    assert retire(floor, before=NOW + HOUR) == 1

    assert set(floor.orders) == {"OPEN", "PICKING", "NEW-CANCELLED"}
    assert retire(floor, before=NOW + HOUR) == 0  # nothing twice
    assert retire(floor, before=NOW + 3 * HOUR) == 1
    assert set(floor.orders) == {"OPEN", "PICKING"}


def test_a_picked_order_stays_while_a_pack_station_could_still_pack_it() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    pick_all(floor, "O1")
    floor.handle(cmd.DefineStation(station="PACK-1", kind=cmd.StationKind.PACK), NOW)

    assert retire(floor, before=NOW + HOUR) == 0
    assert "O1" in floor.orders


def test_a_picked_order_leaves_where_nothing_packs() -> None:
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    pick_all(floor, "O1")

    assert retire(floor, before=NOW + HOUR) == 1
    assert "O1" not in floor.orders


def test_retiring_an_order_that_waited_behind_another_leaves_the_light_to_the_next_one() -> None:
    floor = make_floor()
    for order_id in ("FIRST", "CANCELLED", "NEXT"):
        receive(floor, order_id, ("L1", "SKU-1", 1, "A-01"))
        floor.handle(cmd.StartOrder(order_id=order_id, zone="A", operator=order_id.lower()), NOW)
    floor.handle(cmd.CancelOrder(order_id="CANCELLED"), NOW)  # its line waited behind FIRST's at A-01
    assert retire(floor, before=NOW + HOUR) == 1

    handed_on = press(floor, "M-A-01", "1")

    (lit,) = [i for i in handed_on.instructions if isinstance(i, LightBin)]
    assert floor.lights[lit.module].order_id == "NEXT"


class AsTheWriterDoes:
    """Hands the floor the order a command names when the floor no longer holds it, as the writer reads
    it from its store."""

    def __init__(self, floor: Floor, *retired: RetiredOrder) -> None:
        self.floor = floor
        self.store = {r.order_id: r for r in retired}

    def handle(self, command: cmd.Command) -> Outcome:
        order_id = self.floor.unheld_order(command)
        retired = None if order_id is None else self.store.get(order_id)
        if retired is not None:
            self.floor.note_retired(retired)
        return self.floor.handle(command, NOW)


def retired_floor() -> AsTheWriterDoes:
    """A floor that has let go of O1 (cancelled), and knows of it as the writer's store would tell it."""
    floor = make_floor()
    receive(floor, "O1", ("L1", "SKU-1", 1, "A-01"))
    floor.handle(cmd.CancelOrder(order_id="O1"), NOW)
    retired = RetiredOrder(
        order_id="O1", status=OrderStatus.CANCELLED, fingerprint=floor.orders["O1"].fingerprint
    )
    assert retire(floor, before=NOW + HOUR) == 1
    return AsTheWriterDoes(floor, retired)


def receive_order(order_id: str, *lines: tuple[str, str, int, str | None]) -> cmd.ReceiveOrder:
    return cmd.ReceiveOrder(
        order_id=order_id,
        lines=tuple(
            cmd.NewOrderLine(line_id=lid, sku=sku, qty=qty, location=loc) for lid, sku, qty, loc in lines
        ),
    )


def test_a_retired_orders_id_is_still_taken_replayed_or_refused_as_before() -> None:
    writer = retired_floor()

    replay = writer.handle(receive_order("O1", ("L1", "SKU-1", 1, "A-01")))
    assert replay.reply == {"created": False}
    assert "O1" not in writer.floor.orders  # not started over

    with pytest.raises(CommandRejected) as refused:
        writer.handle(receive_order("O1", ("L1", "SKU-1", 2, "A-01")))
    assert refused.value.kind is RejectionKind.CONFLICT
    assert "different body" in refused.value.message


def test_a_note_of_a_retired_order_lasts_for_one_command() -> None:
    writer = retired_floor()
    writer.floor.note_retired(writer.store["O1"])
    with pytest.raises(CommandRejected):
        writer.floor.handle(cmd.CancelOrder(order_id="O1"), NOW)

    created = writer.floor.handle(receive_order("O1", ("L1", "SKU-1", 2, "A-01")), NOW)

    assert created.reply == {"created": True}  # not noted this time: to the floor, an id never seen


def test_the_floor_names_only_orders_it_does_not_hold_for_the_writer_to_look_up() -> None:
    writer = retired_floor()
    receive(writer.floor, "O2", ("L1", "SKU-1", 1, "A-01"))

    assert writer.floor.unheld_order(cmd.CancelOrder(order_id="O1")) == "O1"
    assert writer.floor.unheld_order(cmd.CancelOrder(order_id="O2")) is None
    assert writer.floor.unheld_order(cmd.DefineZone(zone="B")) is None


@pytest.mark.parametrize(
    "command",
    [
        cmd.StartOrder(order_id="O1", zone="A"),
        cmd.CancelOrder(order_id="O1"),
        cmd.OverrideWeightCheck(station="PACK-1", order_id="O1", reason="checked by hand", by="sam"),
    ],
    ids=["start", "cancel", "pack override"],
)
def test_changing_a_retired_order_is_a_conflict_that_says_it_left_the_floor(command: cmd.Command) -> None:
    writer = retired_floor()
    writer.handle(cmd.DefineStation(station="PACK-1", kind=cmd.StationKind.PACK))

    with pytest.raises(CommandRejected) as refused:
        writer.handle(command)

    assert refused.value.kind is RejectionKind.CONFLICT
    assert (
        refused.value.message == "order 'O1' is cancelled and has left the floor: it can be read, not changed"
    )
    with pytest.raises(CommandRejected) as unknown:
        writer.handle(cmd.CancelOrder(order_id="NEVER"))
    assert unknown.value.kind is RejectionKind.NOT_FOUND
