"""What scans leave behind survives a restart: the operator signed in at a station, and the item scan
that armed a line (so its confirm still counts, with its lot, after the edge comes back)."""

from __future__ import annotations

import pytest

from floorgate.core import commands as cmd
from floorgate.core import events as ev
from floorgate.core.floor import Floor
from floorgate.core.model import ItemScan
from floorgate.edge.store import Store, batch_rows, make_engine

pytestmark = pytest.mark.integration

NOW = 1_700_000_000.0
GS = "\x1d"


def commit(store: Store, floor: Floor, *commands: cmd.Command) -> None:
    for command in commands:
        floor.handle(command, NOW)
    store.commit(batch_rows(floor))
    floor.changes.clear()


def test_the_station_operator_and_an_armed_item_scan_survive_a_restart(store_url: str) -> None:
    store = Store(make_engine(store_url))
    store.create_schema()
    floor = Floor()
    commit(
        store,
        floor,
        cmd.DefineZone(zone="V", scan_verify=True),
        cmd.DefineStation(station="ZS-V", kind=cmd.StationKind.ZONE, zone="V"),
        cmd.UpsertItem(sku="SKU-1", gtins=("4006381333931",)),
        cmd.UpsertLocation(code="V-01", zone="V", module="M-V-01", sku="SKU-1", on_hand=9),
        cmd.ReceiveOrder(
            order_id="O1", lines=(cmd.NewOrderLine(line_id="L1", sku="SKU-1", qty=2, location="V-01"),)
        ),
        cmd.RecordScan(station="ZS-V", data="OP:ann"),
        cmd.RecordScan(station="ZS-V", data="O1"),
        cmd.RecordScan(station="ZS-V", data="]C10104006381333931" + "17261231" + f"10LOT-7{GS}"),
    )
    assert floor.orders["O1"].lines["L1"].scan is not None

    restored = store.load().floor
    assert restored.stations["ZS-V"].operator == "ann"
    assert restored.orders["O1"].lines["L1"].scan == ItemScan(
        gtin="04006381333931", lot="LOT-7", serial=None, expiry="2026-12-31", station="ZS-V"
    )
    # As the edge starts: with a retention cutoff, an unfinished order's scan comes back all the same.
    held = store.load(retire_before=NOW + 3600).floor
    assert held.orders["O1"].lines["L1"].scan == restored.orders["O1"].lines["L1"].scan
    # The site file defines its stations again on start; the operator stays, the confirm still counts.
    restored.handle(cmd.DefineStation(station="ZS-V", kind=cmd.StationKind.ZONE, zone="V"), NOW)
    assert restored.stations["ZS-V"].operator == "ann"
    outcome = restored.handle(cmd.PressButton(module="M-V-01", button=cmd.Button.CONFIRM, display="2"), NOW)
    (confirmed,) = [e for e in outcome.events if isinstance(e, ev.PickConfirmed)]
    assert (confirmed.lot, confirmed.expiry, confirmed.operator) == ("LOT-7", "2026-12-31", "ann")
    store.close()
