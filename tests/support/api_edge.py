"""The REST API in-process, built as the edge builds it: a real writer on a real SQLite store, the stream hub,
and a webhook service (registry, outbox, relay) over the same store, so that every route has what it serves.

The writer is not started here: a test runs it (`asyncio.create_task(api.writer.run())`) or wraps it in the
app's lifespan.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from floorgate.core import commands as cmd
from floorgate.edge.store import Store, make_engine
from floorgate.edge.web_ports import LiveFloor, web_context
from floorgate.edge.webhooks.deliveries import DeliveryStore
from floorgate.edge.webhooks.endpoints import WebhookService
from floorgate.edge.webhooks.outbox import EndpointRegistry
from floorgate.edge.webhooks.relay import WebhookRelay
from floorgate.edge.writer import Writer
from floorgate.web.app import create_app
from floorgate.web.roles import Role
from floorgate.web.stream import StreamHub

# A floor with one of each thing the API names: a zone, a pack and a start station, an item, a bin on a module,
# an order for it.
API_FLOOR: tuple[cmd.Command, ...] = (
    cmd.DefineZone(zone="A"),
    cmd.DefineStation(station="PACK-1", kind=cmd.StationKind.PACK, tolerance_g=15, tare_g=120),
    cmd.DefineStation(station="START-A", kind=cmd.StationKind.ZONE, zone="A"),
    cmd.UpsertItem(sku="S1", description="bolts", gtins=("04012345678901",), unit_weight_g=100),
    cmd.UpsertLocation(code="A-01", zone="A", module="M-01", sku="S1", on_hand=10),
    cmd.ReceiveOrder(order_id="O1", lines=(cmd.NewOrderLine(line_id="1", sku="S1", qty=2, location="A-01"),)),
)


@dataclass(frozen=True)
class ApiEdge:
    app: FastAPI
    writer: Writer
    store: Store


async def _endpoint_gone(*_: object) -> None:
    return None


def build_api_edge(folder: Path, *, tokens: Mapping[str, Role], site_id: str) -> ApiEdge:
    # synchronous=NORMAL: these tests are about answers, not durability, and a thousand fsyncs cost seconds.
    store = Store(make_engine(f"sqlite:///{folder / 'floorgate.db'}", synchronous="NORMAL"))
    store.create_schema()
    loaded = store.load()
    deliveries = DeliveryStore(store.engine)
    registry = EndpointRegistry([])
    writer = Writer(store=store, floor=loaded.floor, last_seq=loaded.last_seq, outbox=registry)
    relay = WebhookRelay(deliveries=deliveries, registry=registry, on_gone=_endpoint_gone)
    hub = StreamHub(floor=LiveFloor(floor=lambda: writer.floor), last_seq=lambda: writer.last_seq)
    writer.subscribe(hub.on_commit)
    context = web_context(
        site_id=site_id,
        edge_id="edge-1",
        writer=writer,
        store=store,
        tokens=tokens,
        hub=hub,
        webhooks=WebhookService(registry=registry, deliveries=deliveries, relay=relay),
        started_at=time.time(),
    )
    return ApiEdge(app=create_app(context), writer=writer, store=store)
