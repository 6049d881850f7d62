"""Shift KPIs survive a restart of a real edge: counted again from the event log before it serves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from floorgate.core.commands import Button
from floorgate.core.instructions import ERROR_COLOR
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import EdgeProcess
from tests.support.master_data import seed_master_data
from tests.support.module_keys import count_as
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

# Figures that depend only on the picks and weighings counted (rates and spans move with the clock, and the
# count of all events is checked against the log itself, which a restart may add to).
MODULES_A = ("M-A-01", "M-A-02", "M-A-03")
COUNTED = ("lines", "shorts", "rejected_picks", "pick_accuracy", "weight_checks", "weight_failures")
INVENTORY = ("bins_counted", "bins_with_variance", "net_adjustment", "inventory_accuracy", "putaways")


def counted(kpis: dict[str, Any]) -> dict[str, Any]:
    return {
        "shift_started_at": kpis["shift_started_at"],
        **{
            window: {
                **{key: kpis[window][key] for key in COUNTED},
                "pickers": [
                    {k: v for k, v in p.items() if k != "lines_per_hour"} for p in kpis[window]["pickers"]
                ],
            }
            for window in ("shift", "last_15m")
        },
    }


def logged_events(api: httpx.Client) -> int:
    return len(api.get("/events", params={"after": 0, "limit": 1000}).json()["events"])


def kpis_counting_the_whole_log(api: httpx.Client) -> dict[str, Any] | None:
    """The KPIs once they count every event in the log (a fresh store: every event is this shift's)."""
    kpis: dict[str, Any] = api.get("/kpis").json()
    return kpis if kpis["shift"]["events"] == logged_events(api) else None


async def test_a_restart_mid_shift_shows_the_same_kpis_as_before_it(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        assert erp.put("/items/SKU-1", json={"description": "one"}).status_code == 201
        assert erp.put("/items/SKU-2", json={"description": "two"}).status_code == 201
        for code, module, sku in [("A-01", "M-A-01", "SKU-1"), ("A-02", "M-A-02", "SKU-2")]:
            body = {"zone": "A", "module": module, "sku": sku, "on_hand": 10}
            assert erp.put(f"/locations/{code}", json=body).status_code == 201
        order = {
            "order_id": "O-1",
            "lines": [
                {"line_id": "L1", "sku": "SKU-1", "qty": 3, "location": "A-01"},
                {"line_id": "L2", "sku": "SKU-2", "qty": 2, "location": "A-02"},
            ],
        }
        assert erp.post("/orders", json=order).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
    await wait_until(lambda: len(bank.lit()) == 2, what="both bins lit")

    await bank.press("M-A-01", Button.PLUS)
    await bank.press("M-A-01", Button.CONFIRM)  # 4 of 3: refused, the bin flashes the request in red
    await wait_until(
        lambda: bank.state("M-A-01").color == ERROR_COLOR and bank.state("M-A-01").display == "3",
        what="the over-pick refused",
    )
    await bank.press("M-A-01", Button.CONFIRM)
    await bank.press("M-A-02", Button.MINUS)
    await bank.press("M-A-02", Button.SHORT)

    with edge.client("viewer") as viewer:
        await wait_until(lambda: viewer.get("/orders/O-1").json()["status"] == "picked", what="order picked")
        before = await wait_until(lambda: kpis_counting_the_whole_log(viewer), what="KPIs to count the log")
    assert (before["shift"]["lines"], before["shift"]["shorts"], before["shift"]["rejected_picks"]) == (
        2,
        1,
        1,
    )

    assert edge.stop() == 0
    edge.start()

    with edge.client("viewer") as viewer:
        after = await wait_until(lambda: kpis_counting_the_whole_log(viewer), what="KPIs to count the log")
    if after["shift_started_at"] != before["shift_started_at"]:
        pytest.skip("a new shift started during the test: its KPIs rightly start from zero")
    assert counted(after) == counted(before)
    assert after["last_15m"]["events"] == after["shift"]["events"] >= before["shift"]["events"]


def inventory(kpis: dict[str, Any]) -> dict[str, Any]:
    return {window: {key: kpis[window][key] for key in INVENTORY} for window in ("shift", "last_15m")}


async def test_the_inventory_figures_of_counts_and_putaways_are_the_same_after_a_restart(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)  # A-01 10, A-02 5, A-03 8
        body = {"task_id": "PA-1", "sku": "SKU-1", "qty": 4, "location": "A-01"}
        assert erp.post("/putaways", json=body).status_code == 201
    await wait_until(lambda: bank.state("M-A-01").display == "4", what="A-01 lit for the putaway")
    await bank.press("M-A-01", Button.CONFIRM)
    with edge.client("supervisor") as supervisor:
        assert supervisor.post("/counts", json={"count_id": "CC-1", "zone": "A"}).status_code == 201
    await wait_until(lambda: all(bank.state(m).display == "0" for m in MODULES_A), what="zone A lit blind")
    await count_as(bank, "M-A-01", 14)  # as recorded after the putaway
    await count_as(bank, "M-A-02", 7)  # 2 more than recorded
    await count_as(bank, "M-A-03", 3)  # 5 fewer

    with edge.client("viewer") as viewer:
        await wait_until(lambda: viewer.get("/counts/CC-1").json()["status"] == "completed", what="CC-1 done")
        before = await wait_until(lambda: kpis_counting_the_whole_log(viewer), what="KPIs to count the log")
    assert inventory(before)["shift"] == {
        "bins_counted": 3,
        "bins_with_variance": 2,
        "net_adjustment": -3,
        "inventory_accuracy": round(1 / 3, 4),
        "putaways": 1,
    }

    assert edge.stop() == 0
    edge.start()

    with edge.client("viewer") as viewer:
        after = await wait_until(lambda: kpis_counting_the_whole_log(viewer), what="KPIs to count the log")
    if after["shift_started_at"] != before["shift_started_at"]:
        pytest.skip("a new shift started during the test: its KPIs rightly start from zero")
    assert inventory(after) == inventory(before)
