"""The master data and the order most end-to-end tests start from, put through a real edge's REST API:
zone A's bins A-01..A-03 on modules M-A-01..M-A-03, and order O-1 (3 of SKU-1, 2 of SKU-2)."""

from __future__ import annotations

import httpx


def seed_master_data(api: httpx.Client) -> None:
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        assert api.put(f"/items/{sku}", json={"description": sku, "unit_weight_g": 100}).status_code == 201
    for code, module, sku, on_hand in [
        ("A-01", "M-A-01", "SKU-1", 10),
        ("A-02", "M-A-02", "SKU-2", 5),
        ("A-03", "M-A-03", "SKU-3", 8),
    ]:
        response = api.put(
            f"/locations/{code}", json={"zone": "A", "module": module, "sku": sku, "on_hand": on_hand}
        )
        assert response.status_code == 201, response.text


ORDER = {
    "order_id": "O-1",
    "tote": "T-9",
    "lines": [
        {"line_id": "L1", "sku": "SKU-1", "qty": 3, "location": "A-01"},
        {"line_id": "L2", "sku": "SKU-2", "qty": 2, "location": "A-02"},
    ],
}
