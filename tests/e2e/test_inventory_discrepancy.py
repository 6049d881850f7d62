"""A pick of more than a bin's recorded on-hand, through a real edge: the event log, the location and the
exception all tell the same, honest story."""

from __future__ import annotations

import pytest

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import EdgeProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def test_a_pick_of_more_than_recorded_is_logged_as_found_stock_and_a_discrepancy(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        assert erp.put("/items/SKU-1", json={"description": "one"}).status_code == 201
        body = {"zone": "A", "module": "M-A-01", "sku": "SKU-1", "on_hand": 1}
        assert erp.put("/locations/A-01", json=body).status_code == 201
        order = {
            "order_id": "O-1",
            "lines": [{"line_id": "L1", "sku": "SKU-1", "qty": 3, "location": "A-01"}],
        }
        assert erp.post("/orders", json=order).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
    await wait_until(lambda: bank.state("M-A-01").display == "3", what="the bin lit for 3")

    await bank.press("M-A-01", Button.CONFIRM)  # the picker found three in a bin recorded as holding one

    with edge.client("viewer") as viewer:
        await wait_until(lambda: viewer.get("/orders/O-1").json()["status"] == "picked", what="order picked")
        events = viewer.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
        started = next(i for i, e in enumerate(events) if e["type"] == "order.started")
        facts = events[started + 1 :]
        assert [e["type"] for e in facts] == [
            "inventory.adjusted",
            "pick.confirmed",
            "exception.raised",
            "order.zone_completed",
            "order.picked",
        ]
        adjusted, confirmed, raised = (e["data"] for e in facts[:3])
        assert adjusted == {
            "location": "A-01",
            "sku": "SKU-1",
            "on_hand": 3,
            "previous": 1,
            "reason": "found_at_pick",
        }
        assert (confirmed["picked"], confirmed["on_hand"]) == (3, 0)
        assert raised["kind"] == "inventory_discrepancy"
        assert raised["detail"] == {"sku": "SKU-1", "expected": 1, "picked": 3}
        on_hand = {loc["code"]: loc["on_hand"] for loc in viewer.get("/locations").json()}
        assert on_hand["A-01"] == 0
        (listed,) = [x for x in viewer.get("/exceptions").json() if x["id"] == raised["exception_id"]]
        assert (listed["message"], listed["detail"], listed["location"]) == (
            raised["message"],
            raised["detail"],
            "A-01",
        )
