"""The small floor of tests/support/floor_commands.py with a put wall W1 of four cubbies, items with GTINs,
and three orders sharing SKUs, for the batch picking and put wall unit tests."""

from __future__ import annotations

from floorgate.core import commands as cmd
from floorgate.core.floor import Floor, Outcome
from tests.support.floor_commands import NOW, make_floor, receive

CUBBIES = ("W1-01", "W1-02", "W1-03", "W1-04")
# A valid GTIN-13 for each SKU (check digits computed), as an EAN-13 scan would carry it.
GTINS = {
    "SKU-1": "4006381333931",
    "SKU-2": "5901234123457",
    "SKU-3": "9780201379624",
    "SKU-4": "0012345678905",
}


def batch_floor() -> Floor:
    """Orders O1 (2 x SKU-1, 1 x SKU-2), O2 (1 x SKU-1), O3 (3 x SKU-1, 2 x SKU-2), received oldest first."""
    floor = make_floor()
    for sku, gtin in GTINS.items():
        floor.handle(cmd.UpsertItem(sku=sku, gtins=(gtin,)), NOW)
    floor.handle(cmd.DefineWall(wall="W1", cubbies=CUBBIES), NOW)
    receive(floor, "O1", ("L1", "SKU-1", 2, "A-01"), ("L2", "SKU-2", 1, "A-02"))
    receive(floor, "O2", ("L1", "SKU-1", 1, "A-01"))
    receive(floor, "O3", ("L1", "SKU-1", 3, "A-01"), ("L2", "SKU-2", 2, "A-02"))
    return floor


def batch_of_three(floor: Floor, batch_id: str = "B1") -> Outcome:
    return floor.handle(cmd.ReceiveBatch(batch_id=batch_id, order_ids=("O1", "O2", "O3"), wall="W1"), NOW)


def start(floor: Floor, batch_id: str = "B1", zone: str = "A", operator: str | None = "ann") -> Outcome:
    return floor.handle(cmd.StartBatch(batch_id=batch_id, zone=zone, operator=operator), NOW)


def scan_at_wall(floor: Floor, data: str, wall: str = "W1") -> Outcome:
    return floor.handle(cmd.RecordScan(station=wall, data=data), NOW)


def picked_batch(floor: Floor) -> None:
    """B1 received, started in zone A and every bin confirmed in full."""
    batch_of_three(floor)
    start(floor)
    for module in ("M-A-01", "M-A-02"):
        floor.handle(cmd.PressButton(module=module, button=cmd.Button.CONFIRM, display=None), NOW)
