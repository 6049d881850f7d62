"""Batches and put walls through the REST API, on a real writer and store (SQLite and PostgreSQL): the
replay rules, roles, bad input refused with nothing changed, and a sort that survives a reload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from floorgate.core import commands as cmd
from floorgate.edge.store import Store, make_engine
from floorgate.edge.writer import Writer
from tests.support.rest_api import TOKENS, auth

pytestmark = pytest.mark.integration

GTIN = "4006381333931"


async def seed_batch_floor(client: httpx.AsyncClient, writer: Writer) -> None:
    """Two bins, a wall W1 of three cubbies, and orders O1..O3 (O1 and O2 share S1)."""
    await writer.execute(cmd.DefineWall(wall="W1", cubbies=("W1-01", "W1-02", "W1-03")))
    for sku, gtins in (("S1", [GTIN]), ("S2", [])):
        r = await client.put(f"/items/{sku}", json={"gtins": gtins}, headers=auth("e"))
        assert r.status_code in (200, 201), r.text
    for code, sku in (("A-01", "S1"), ("A-02", "S2")):
        body = {"zone": "A", "module": f"M-{code}", "sku": sku, "on_hand": 10}
        r = await client.put(f"/locations/{code}", json=body, headers=auth("e"))
        assert r.status_code == 201, r.text
    for order_id, lines in (
        ("O1", [("1", "S1", 2, "A-01")]),
        ("O2", [("1", "S1", 1, "A-01"), ("2", "S2", 1, "A-02")]),
        ("O3", [("1", "S2", 1, "A-02")]),
    ):
        body = {
            "order_id": order_id,
            "lines": [{"line_id": lid, "sku": s, "qty": q, "location": loc} for lid, s, q, loc in lines],
        }
        r = await client.post("/orders", json=body, headers=auth("e"))
        assert r.status_code == 201, r.text


async def picked_batch(client: httpx.AsyncClient, writer: Writer) -> None:
    """Batch B1 of O1 and O2 received, started in zone A and both bins confirmed in full."""
    await client.post(
        "/batches", json={"batch_id": "B1", "order_ids": ["O1", "O2"], "wall": "W1"}, headers=auth("e")
    )
    await client.post("/batches/B1/start", json={"zone": "A"}, headers=auth("e"))
    for module in ("M-A-01", "M-A-02"):
        await writer.execute(cmd.PressButton(module=module, button=cmd.Button.CONFIRM, display=None))


async def state_of(client: httpx.AsyncClient) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    batches = (await client.get("/batches", headers=auth("v"))).json()
    orders = {o["order_id"]: o["status"] for o in (await client.get("/orders", headers=auth("v"))).json()}
    wall = (await client.get("/walls/W1", headers=auth("v"))).json()
    return {"batches": batches, "orders": orders, "cubbies": wall["cubbies"]}


async def test_a_batch_is_created_once_replayed_as_200_and_a_different_body_is_409(api) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    body = {"batch_id": "B1", "order_ids": ["O1", "O2"], "wall": "W1"}

    created = await client.post("/batches", json=body, headers=auth("e"))
    replay = await client.post("/batches", json=body, headers=auth("e"))
    other = await client.post("/batches", json={**body, "order_ids": ["O1"]}, headers=auth("e"))

    assert (created.status_code, replay.status_code, other.status_code) == (201, 200, 409)
    assert created.json() == replay.json()
    view = created.json()
    assert (view["batch_id"], view["status"], view["wall"]) == ("B1", "open", "W1")
    assert [o["order_id"] for o in view["orders"]] == ["O1", "O2"]


async def test_only_erp_and_admin_write_batches_and_any_role_reads_them(api) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    for token in TOKENS:
        r = await client.post(
            "/batches",
            json={"batch_id": f"B-{token}", "order_ids": ["O3"], "wall": "W1"},
            headers=auth(token),
        )
        assert r.status_code == (201 if token in {"e"} else 409 if token == "a" else 403), (token, r.text)
        assert (await client.get("/walls/W1", headers=auth(token))).status_code == 200


async def test_starting_a_batch_lights_each_bin_once_with_the_summed_quantity(api) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    await client.post(
        "/batches", json={"batch_id": "B1", "order_ids": ["O1", "O2"], "wall": "W1"}, headers=auth("e")
    )

    r = await client.post("/batches/B1/start", json={"zone": "A", "operator": "ann"}, headers=auth("e"))

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "picking"
    assert {(ln["location"], ln["qty"], ln["status"]) for ln in r.json()["lines"]} == {
        ("A-01", 3, "lit"),
        ("A-02", 1, "lit"),
    }
    assert writer.floor.lights["M-A-01"].display == "3"


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "says"),
    [
        ("get", "/batches/NOPE", None, 404, "no batch 'NOPE'"),
        ("post", "/batches/NOPE/start", {"zone": "A"}, 404, "no batch 'NOPE'"),
        ("post", "/batches", {"batch_id": "B2", "order_ids": ["O3"], "wall": "W9"}, 422, "unknown wall"),
        (
            "post",
            "/batches",
            {"batch_id": "B2", "order_ids": ["O1", "O3"], "wall": "W1"},
            409,
            "already in batch",
        ),
        ("post", "/batches", {"batch_id": "B2", "order_ids": ["O4"], "wall": "W1"}, 409, "is picking"),
        ("post", "/batches", {"batch_id": "B2", "order_ids": ["O9"], "wall": "W1"}, 404, "no order 'O9'"),
        ("post", "/orders/O1/start", {"zone": "A"}, 409, "picked with batch 'B1'"),
        ("get", "/walls/W9", None, 404, "no wall 'W9'"),
    ],
)
async def test_bad_batch_requests_are_refused_naming_the_problem_and_change_nothing(
    api, method: str, path: str, body: object, code: int, says: str
) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    r = await client.post(
        "/orders",
        json={"order_id": "O4", "lines": [{"line_id": "1", "sku": "S2", "qty": 1}]},
        headers=auth("e"),
    )
    assert r.status_code == 201, r.text
    assert (await client.post("/orders/O4/start", json={"zone": "A"}, headers=auth("e"))).status_code == 200
    r = await client.post(
        "/batches", json={"batch_id": "B1", "order_ids": ["O1"], "wall": "W1"}, headers=auth("e")
    )
    assert r.status_code == 201, r.text
    before = await state_of(client)

    kwargs = {"json": body} if body is not None else {}
    response = await client.request(method, path, headers=auth("e"), **kwargs)

    assert response.status_code == code, response.text
    assert says in str(response.json()["detail"])
    assert await state_of(client) == before


async def test_a_scan_at_a_wall_with_no_batch_sorting_is_rejected_on_its_screen_and_changes_nothing(
    api,
) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    before = await state_of(client)

    r = await client.post("/stations/W1/scan", json={"data": GTIN}, headers=auth("e"))

    assert r.status_code == 200, r.text
    wall = (await client.get("/walls/W1", headers=auth("v"))).json()
    assert wall["screen"]["error"] is True
    assert "no batch" in wall["screen"]["message"]
    events = (await client.get("/events", params={"after": 0}, headers=auth("v"))).json()["events"]
    (rejected,) = [e for e in events if e["type"] == "put.rejected"]
    assert rejected["data"]["reason"] == "no_batch_sorting"
    assert await state_of(client) == before


async def test_a_confirm_on_a_free_cubby_is_an_exception_and_changes_nothing(api) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    before = await state_of(client)

    await writer.execute(
        cmd.PressButton(module="W1-02", button=cmd.Button.CONFIRM, display="1", message_id="x1")
    )

    exceptions = (await client.get("/exceptions", headers=auth("v"))).json()
    assert [(x["kind"], x["device"]) for x in exceptions] == [("cubby_not_lit", "W1-02")]
    assert await state_of(client) == before


async def test_a_sort_in_progress_is_read_back_from_the_store_as_the_floor_held_it(
    api, store_url: str
) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    await picked_batch(client, writer)
    for _ in range(2):
        await client.post("/stations/W1/scan", json={"data": GTIN}, headers=auth("e"))
    await writer.execute(cmd.PressButton(module="W1-01", button=cmd.Button.CONFIRM, display="2"))
    await client.post("/stations/W1/scan", json={"data": GTIN}, headers=auth("e"))

    reloaded = Store(make_engine(store_url)).load().floor

    assert reloaded.batches == writer.floor.batches
    assert reloaded.walls == writer.floor.walls
    assert reloaded.lights["W1-02"] == writer.floor.lights["W1-02"]
    assert reloaded.put_wall.sorting("W1") is not None
    assert reloaded.orders["O1"].batch == "B1"
    wall = (await client.get("/walls/W1", headers=auth("v"))).json()
    assert [(c["cubby"], c["state"], c["order_id"]) for c in wall["cubbies"]] == [
        ("W1-01", "done", "O1"),
        ("W1-02", "filling", "O2"),
        ("W1-03", "free", None),
    ]


async def test_an_order_cancelled_mid_sort_blinks_its_cubby_out_and_names_its_items(api) -> None:
    client, writer = api
    await seed_batch_floor(client, writer)
    await picked_batch(client, writer)
    await client.post("/stations/W1/scan", json={"data": GTIN}, headers=auth("e"))
    await writer.execute(cmd.PressButton(module="W1-01", button=cmd.Button.CONFIRM, display="1"))

    r = await client.post("/orders/O1/cancel", headers=auth("e"))

    assert r.status_code == 200, r.text
    wall = (await client.get("/walls/W1", headers=auth("v"))).json()
    assert wall["cubbies"][0]["state"] == "removing"
    assert wall["cubbies"][0]["light"]["display"] == "out"
    events = (await client.get("/events", params={"after": 0}, headers=auth("v"))).json()["events"]
    (gone,) = [e["data"] for e in events if e["type"] == "order.sort_cancelled"]
    assert (gone["cubby"], gone["in_cubby"], gone["not_sorted"]) == (
        "W1-01",
        [{"sku": "S1", "qty": 1}],
        [{"sku": "S1", "qty": 1}],
    )
    exceptions = (await client.get("/exceptions", headers=auth("v"))).json()
    assert [x["kind"] for x in exceptions] == ["sort_cancelled"]
