"""The live stream of a real edge: a snapshot, then deltas that agree with the REST API."""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from floorgate.core.commands import Button
from floorgate.firmware_sim.ptl_modules import ModuleBank
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.master_data import ORDER, seed_master_data
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


async def test_the_stream_sends_a_snapshot_then_deltas_matching_the_api(
    edge: EdgeProcess, bank: ModuleBank
) -> None:
    with edge.client("erp") as erp:
        seed_master_data(erp)
        assert erp.post("/orders", json=ORDER).status_code == 201
    url = f"ws://127.0.0.1:{edge.http_port}/api/v1/stream?token={TOKENS['viewer']}"
    async with websockets.connect(url) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        assert snapshot["role"] == "viewer"
        assert {z["id"] for z in snapshot["zones"]} == {"A", "B"}
        assert {loc["code"] for loc in snapshot["locations"]} == {"A-01", "A-02", "A-03"}
        assert all(loc["light"] is None for loc in snapshot["locations"])

        with edge.client("erp") as erp:
            assert erp.post("/orders/O-1/start", json={"zone": "A", "operator": "ann"}).status_code == 200
        await wait_until(lambda: bank.state("M-A-01").display == "3", what="lit")
        await bank.press("M-A-01", Button.CONFIRM)

        lights: dict[str, object] = {}
        types: list[str] = []
        last_seq = snapshot["seq"]
        with edge.client("viewer") as viewer:
            while (
                viewer.get("/orders/O-1").json()["lines"][0]["status"] != "picked"
                or "pick.confirmed" not in types
            ):
                delta = json.loads(await ws.recv())
                assert delta["type"] == "delta"
                assert delta["seq"] >= last_seq
                last_seq = delta["seq"]
                types += [e["type"] for e in delta["events"]]
                lights.update({loc["code"]: loc["light"] for loc in delta["locations"]})
            assert lights["A-01"] is None  # lit, then cleared by the confirm
            assert lights["A-02"]["display"] == "2"  # type: ignore[index]
            assert types.index("order.started") < types.index("pick.confirmed")
            events = viewer.get("/events", params={"after": snapshot["seq"]}).json()["events"]
            assert [e["type"] for e in events][: len(types)] == types


async def test_the_stream_refuses_a_wrong_token(edge: EdgeProcess) -> None:
    url = f"ws://127.0.0.1:{edge.http_port}/api/v1/stream?token=wrong"
    with pytest.raises(ConnectionClosed) as closed:
        async with websockets.connect(url) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
