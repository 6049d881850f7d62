"""The REST API as the integration tests drive it: a token per role, the header that carries one, and the
small floor (a bin and an order) most API tests start from."""

from __future__ import annotations

import httpx

from floorgate.web.roles import Role

TOKENS = {"v": Role.VIEWER, "s": Role.SUPERVISOR, "e": Role.ERP, "a": Role.ADMIN}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def seed(client: httpx.AsyncClient) -> None:
    r = await client.put(
        "/locations/A-01", json={"zone": "A", "module": "M1", "sku": "S1", "on_hand": 5}, headers=auth("e")
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/orders",
        json={"order_id": "O1", "lines": [{"line_id": "1", "sku": "S1", "qty": 2, "location": "A-01"}]},
        headers=auth("e"),
    )
    assert r.status_code == 201, r.text
