"""Cycle counts through a real `floorgate run` on mosquitto with simulated modules: a blind zone count with
variances below and above `[counts] variance_exception_pct`, a pick and a count that want the same bin, a
kill -9 in the middle of a count, and the bad input a count must refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.brokers import Mosquitto
from tests.support.edge_process import EdgeProcess
from tests.support.event_log import event_data
from tests.support.master_data import ORDER, seed_master_data
from tests.support.module_keys import count_as
from tests.support.retained import mosquitto_pub
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TRACKED = {"count.started", "count.recorded", "count.completed", "inventory.adjusted", "pick.confirmed"}


def seed_bins(api: Any, bins: list[tuple[str, str, int]]) -> None:
    for code, sku, on_hand in bins:
        assert api.put(f"/items/{sku}", json={"description": sku}).status_code in (200, 201)
        body = {"zone": "A", "module": f"M-{code}", "sku": sku, "on_hand": on_hand}
        assert api.put(f"/locations/{code}", json=body).status_code == 201


def on_hands(api: Any) -> dict[str, int | None]:
    return {loc["code"]: loc["on_hand"] for loc in api.get("/locations").json()}


def floor_exceptions(api: Any) -> list[dict[str, Any]]:
    """The open exceptions but the one saying the bank's module M-B-01 is on no location."""
    return [x for x in api.get("/exceptions").json() if x["kind"] != "unknown_module"]


def tracked(api: Any) -> list[tuple[str, str | None]]:
    """(type, location) of the counting, picking and adjusting events, in log order."""
    events = api.get("/events", params={"after": 0, "limit": 1000}).json()["events"]
    return [(e["type"], e["data"].get("location")) for e in events if e["type"] in TRACKED]


async def completed(api: Any, count_id: str) -> dict[str, Any]:
    return await wait_until(
        lambda: (c := api.get(f"/counts/{count_id}").json())["status"] == "completed" and c,
        timeout=15,
        what=f"count {count_id} completed",
    )


async def test_a_blind_zone_count_corrects_every_bin_and_raises_only_the_variance_above_the_threshold(
    tmp_path: Path, mosquitto: Mosquitto, site: str, bank: ModuleBank
) -> None:
    edge = EdgeProcess(
        workdir=tmp_path,
        site=site,
        mqtt_url=mosquitto.url,
        extra_site="[counts]\nvariance_exception_pct = 10\n",
    ).start()
    try:
        with (
            edge.client("erp") as erp,
            edge.client("supervisor") as supervisor,
            edge.client("viewer") as viewer,
        ):
            seed_bins(erp, [("A-01", "SKU-1", 4), ("A-02", "SKU-2", 20), ("A-03", "SKU-3", 3)])
            assert viewer.post("/counts", json={"count_id": "C-1", "zone": "A"}).status_code == 403
            started = supervisor.post("/counts", json={"count_id": "C-1", "zone": "A", "blind": True})
            assert started.status_code == 201, started.text
            assert [(b["location"], b["status"], b["expected"]) for b in started.json()["bins"]] == [
                ("A-01", "lit", None),
                ("A-02", "lit", None),
                ("A-03", "lit", None),
            ]
            assert started.json()["variance_exception_pct"] == 10.0
            await wait_until(
                lambda: all(
                    bank.state(m).display == "0" and bank.state(m).blink == "slow"
                    for m in ("M-A-01", "M-A-02", "M-A-03")
                ),
                what="three bins lit blind",
            )

            await count_as(bank, "M-A-01", 4)  # as recorded
            await count_as(bank, "M-A-02", 19)  # 5 %: below the site's 10 %
            await count_as(bank, "M-A-03", 1)  # 67 %: above
            count = await completed(viewer, "C-1")

            assert [
                {k: b[k] for k in ("location", "expected", "counted", "variance", "adjusted")}
                for b in count["bins"]
            ] == [
                {"location": "A-01", "expected": 4, "counted": 4, "variance": 0, "adjusted": 0},
                {"location": "A-02", "expected": 20, "counted": 19, "variance": -1, "adjusted": -1},
                {"location": "A-03", "expected": 3, "counted": 1, "variance": -2, "adjusted": -2},
            ]
            assert (count["bins_with_variance"], count["net_adjustment"]) == (2, -3)
            assert on_hands(viewer) == {"A-01": 4, "A-02": 19, "A-03": 1}
            assert tracked(viewer) == [
                ("inventory.adjusted", "A-01"),
                ("inventory.adjusted", "A-02"),
                ("inventory.adjusted", "A-03"),
                ("count.started", None),
                ("count.recorded", "A-01"),
                ("count.recorded", "A-02"),
                ("inventory.adjusted", "A-02"),
                ("count.recorded", "A-03"),
                ("inventory.adjusted", "A-03"),
                ("count.completed", None),
            ]
            assert [e["reason"] for e in event_data(viewer, "inventory.adjusted")][3:] == [
                "cycle_count",
                "cycle_count",
            ]
            assert [
                (e["expected"], e["counted"], e["blind"]) for e in event_data(viewer, "count.recorded")
            ] == [
                (4, 4, True),
                (20, 19, True),
                (3, 1, True),
            ]
            (exception,) = floor_exceptions(viewer)
            assert (exception["kind"], exception["location"], exception["status"]) == (
                "count_variance",
                "A-03",
                "open",
            )
            assert exception["detail"]["variance_pct"] == 66.67
            await wait_until(lambda: bank.lit() == {}, what="every bin dark")

            # A supervisor asks for A-03 again; the ERP may not.
            assert erp.post("/counts/C-1/recount", json={"locations": ["A-03"]}).status_code == 403
            recount = supervisor.post("/counts/C-1/recount", json={"locations": ["A-03"]})
            assert recount.status_code == 200, recount.text
            assert recount.json()["status"] == "counting"
            await wait_until(lambda: bank.state("M-A-03").display == "0", what="A-03 lit again")
            await count_as(bank, "M-A-03", 1)
            count = await completed(viewer, "C-1")
            assert count["bins"][2]["recounts"] == 1
            assert [
                (e["expected"], e["counted"], e["recount"]) for e in event_data(viewer, "count.recorded")
            ][-1] == (1, 1, 1)
            assert len(event_data(viewer, "count.completed")) == 2
            assert len(event_data(viewer, "inventory.adjusted")) == 5  # the recount matched: no adjustment
            resolved = supervisor.post(f"/exceptions/{exception['id']}/resolve", json={"note": "recounted"})
            assert resolved.status_code == 200, resolved.text
    finally:
        edge.stop()


async def test_a_count_waits_for_the_pick_in_its_bin_and_a_pick_waits_for_the_count(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)  # 10, A-02: 5, A-03: 8
        assert erp.post("/orders", json=ORDER).status_code == 201
        assert erp.post("/orders/O-1/start", json={"zone": "A"}).status_code == 200
        await wait_until(lambda: bank.state("M-A-01").display == "3", what="the pick lit")
        pick_color = bank.state("M-A-01").color

        started = erp.post("/counts", json={"count_id": "C-1", "locations": ["A-01", "A-03"]})
        assert started.status_code == 201, started.text
        assert [b["status"] for b in started.json()["bins"]] == ["queued", "lit"]
        await wait_until(lambda: bank.state("M-A-03").display == "0", what="A-03 lit for the count")
        assert (bank.state("M-A-01").display, bank.state("M-A-01").color) == ("3", pick_color)

        second = {
            "order_id": "O-2",
            "lines": [{"line_id": "L1", "sku": "SKU-3", "qty": 2, "location": "A-03"}],
        }
        assert erp.post("/orders", json=second).status_code == 201
        assert erp.post("/orders/O-2/start", json={"zone": "A"}).status_code == 200
        assert erp.get("/orders/O-2").json()["lines"][0]["status"] == "open"  # waits for the count

        await bank.press("M-A-01", Button.CONFIRM)  # the pick: 3 of 10
        await wait_until(
            lambda: bank.state("M-A-01").blink == "slow", what="A-01 lit for the count after the pick"
        )
        await count_as(bank, "M-A-01", 7)
        await count_as(bank, "M-A-03", 8)
        await completed(erp, "C-1")
        await wait_until(
            lambda: bank.state("M-A-03").display == "2", what="the waiting pick lit after the count"
        )
        await bank.press("M-A-03", Button.CONFIRM)
        await wait_until(lambda: erp.get("/orders/O-2").json()["status"] == "picked", what="O-2 picked")
        await bank.press("M-A-02", Button.CONFIRM)
        await wait_until(lambda: erp.get("/orders/O-1").json()["status"] == "picked", what="O-1 picked")

        assert tracked(erp)[3:] == [
            ("count.started", None),
            ("pick.confirmed", "A-01"),
            ("count.recorded", "A-01"),
            ("count.recorded", "A-03"),
            ("count.completed", None),
            ("pick.confirmed", "A-03"),
            ("pick.confirmed", "A-02"),
        ]
        assert [(e["expected"], e["counted"]) for e in event_data(erp, "count.recorded")] == [(7, 7), (8, 8)]
        assert on_hands(erp) == {"A-01": 7, "A-02": 3, "A-03": 6}
        assert floor_exceptions(erp) == []


async def test_a_count_killed_9_midway_goes_on_after_a_restart_with_nothing_lost_or_applied_twice(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)  # 10, A-02: 5, A-03: 8
        assert erp.post("/counts", json={"count_id": "C-1", "zone": "A"}).status_code == 201
        await wait_until(lambda: len(bank.lit()) == 3, what="three bins lit")
        await count_as(bank, "M-A-01", 9)
        await wait_until(
            lambda: erp.get("/counts/C-1").json()["bins"][0]["status"] == "counted", what="A-01 counted"
        )

    await count_as(bank, "M-A-02", 5)
    edge.kill9()  # A-02's confirm may or may not be committed; the module repeats it until answered
    await count_as(bank, "M-A-03", 6)  # pressed while the edge is down: held and repeated by the module
    edge.start()

    with edge.client("viewer") as viewer:
        count = await completed(viewer, "C-1")
        assert [(b["expected"], b["counted"]) for b in count["bins"]] == [(10, 9), (5, 5), (8, 6)]
        # After the restart the module re-sends A-02's and A-03's confirms in either order: once each.
        assert sorted((e["location"], e["counted"]) for e in event_data(viewer, "count.recorded")) == [
            ("A-01", 9),
            ("A-02", 5),
            ("A-03", 6),
        ]
        assert sorted(
            (e["location"], e["previous"], e["on_hand"])
            for e in event_data(viewer, "inventory.adjusted")
            if e["reason"] == "cycle_count"
        ) == [
            ("A-01", 10, 9),
            ("A-03", 8, 6),
        ]
        assert len(event_data(viewer, "count.completed")) == 1
        assert on_hands(viewer) == {"A-01": 9, "A-02": 5, "A-03": 6}
        assert sorted(x["location"] for x in floor_exceptions(viewer) if x["kind"] == "count_variance") == [
            "A-01",
            "A-03",
        ]
        await wait_until(lambda: bank.lit() == {}, timeout=10, what="every bin dark")
        assert bank.unanswered() == []


async def test_bad_counts_are_refused_and_a_confirm_from_a_cancelled_count_changes_nothing(
    edge: EdgeProcess, bank: ModuleBank, mosquitto: Mosquitto, site: str
) -> None:
    with edge.client("erp") as erp, edge.client("supervisor") as supervisor:
        seed_master_data(erp)
        before = erp.get("/events", params={"after": 0}).json()["last_seq"]
        for body, field in [
            ({"count_id": "C-1", "locations": ["Z-99"]}, "0"),
            ({"count_id": "C-1", "locations": ["A-01", "A-01"]}, "1"),
            ({"count_id": "C-1", "zone": "Q"}, "zone"),
            ({"count_id": "C-1", "zone": "A", "locations": ["A-01"]}, "locations"),
            ({"count_id": "C-1"}, "locations"),
        ]:
            answer = supervisor.post("/counts", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert str(answer.json()["detail"][0]["loc"][-1]) == field, answer.text
        assert (
            supervisor.post("/counts", json={"count_id": "C-1", "zone": "A", "blind": "yes"}).status_code
            == 422
        )
        assert erp.get("/events", params={"after": 0}).json()["last_seq"] == before
        assert erp.get("/counts").json() == []
        assert supervisor.post("/counts/C-9/recount", json={}).status_code == 404

        assert (
            supervisor.post("/counts", json={"count_id": "C-1", "locations": ["A-01", "A-02"]}).status_code
            == 201
        )
        assert supervisor.post("/counts", json={"count_id": "C-2", "locations": ["A-02"]}).status_code == 409
        assert supervisor.post("/counts/C-1/recount", json={"locations": ["A-01"]}).status_code == 409
        await wait_until(lambda: bank.state("M-A-02").display == "0", what="A-02 lit for the count")

        # A display no quantity: an exception, and the bin stays to count.
        event_topic = f"floorgate/{site}/ptl/M-A-01/event"
        mosquitto_pub(
            mosquitto.url, event_topic, json.dumps({"id": "bad-1", "button": "confirm", "display": "-5"})
        )
        await wait_until(
            lambda: [x["kind"] for x in floor_exceptions(erp)] == ["count_rejected"], what="refused"
        )
        await wait_until(lambda: bank.state("M-A-01").color == "red", what="A-01 flashing red")

        cancelled = erp.post("/counts/C-1/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert [b["status"] for b in cancelled.json()["bins"]] == ["cancelled", "cancelled"]
        await wait_until(lambda: bank.lit() == {}, what="the cancelled count's bins dark")

        # The module of the cancelled count confirms late, with the value its counter keyed in.
        late = json.dumps({"id": "late-1", "button": "confirm", "display": "4"})
        mosquitto_pub(mosquitto.url, f"floorgate/{site}/ptl/M-A-02/event", late)
        await wait_until(
            lambda: sorted(x["kind"] for x in floor_exceptions(erp)) == ["button_not_lit", "count_rejected"],
            what="the late confirm an exception",
        )
        assert event_data(erp, "count.recorded") == []
        assert on_hands(erp) == {"A-01": 10, "A-02": 5, "A-03": 8}
        assert [e["not_counted"] for e in event_data(erp, "count.cancelled")] == [["A-01", "A-02"]]
        assert erp.post("/counts/C-1/cancel").status_code == 200  # already cancelled: the same answer
