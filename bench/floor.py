"""The benchmark's floor: its site and token, its modules, its site file, its orders seeded by the API."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import httpx

TOKEN = "bench-admin-token"
SITE = "bench"


def modules(count: int) -> list[str]:
    return [f"M{n:05d}" for n in range(1, count + 1)]


def site_file(
    workdir: Path,
    broker: str,
    http_port: int,
    module_names: list[str],
    extra_locations: int = 0,
    store_url: str | None = None,
) -> Path:
    parts = [
        textwrap.dedent(
            f"""\
            [site]
            id = "{SITE}"
            [edge]
            id = "edge-1"
            data_dir = "{workdir / "data"}"
            [mqtt]
            url = "{broker}"
            [http]
            port = {http_port}
            [[tokens]]
            token = "{TOKEN}"
            role = "admin"
            [[zones]]
            id = "Z"
            """
        )
    ]
    for name in module_names:
        parts.append(
            f'[[locations]]\ncode = "L{name[1:]}"\nzone = "Z"\nmodule = "{name}"\nsku = "S{name[1:]}"\non_hand = 1000000\n'
        )
    for n in range(extra_locations):
        parts.append(f'[[locations]]\ncode = "X{n:06d}"\nzone = "Z"\nsku = "SX{n:06d}"\non_hand = 1000\n')
    if store_url:
        parts.append(f'[store]\nurl = "{store_url}"\n')
    path = workdir / "site.toml"
    path.write_text("\n".join(parts))
    return path


async def seed_orders(http_port: int, module_names: list[str], orders: int, lines: int) -> float:
    """Orders of `lines` lines on distinct modules, all started: each module gets a deep queue of lines,
    so every press lights the next line at once (the press -> next light command the bench measures)."""
    started = time.monotonic()
    operators = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}/api/v1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        limits=limits,
        timeout=60,
    ) as api:
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            chosen = [module_names[(n * lines + i) % len(module_names)] for i in range(lines)]
            body = {
                "order_id": f"B{n:06d}",
                "lines": [
                    {"line_id": str(i), "sku": f"S{m[1:]}", "qty": 1, "location": f"L{m[1:]}"}
                    for i, m in enumerate(chosen)
                ],
            }
            async with gate:
                response = await api.post("/orders", json=body)
                response.raise_for_status()
                started_order = await api.post(
                    f"/orders/B{n:06d}/start", json={"zone": "Z", "operator": operators[n % len(operators)]}
                )
                started_order.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(orders)))
    return time.monotonic() - started
