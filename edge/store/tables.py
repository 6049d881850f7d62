"""The store's tables (SQLModel): current floor state, the event log and remembered inbound ids.

What a store holds is made by the revisions in `migrations/versions/`: a table or column added here needs
a revision that adds it (docs/migrations.md), and a test fails, naming what differs, until it has one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class ZoneRow(SQLModel, table=True):
    __tablename__ = "zones"
    id: str = Field(primary_key=True)
    scan_verify: bool = False
    name: str = ""


class ItemRow(SQLModel, table=True):
    __tablename__ = "items"
    sku: str = Field(primary_key=True)
    description: str = ""
    gtins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unit_weight_g: float | None = None
    # Added after the first release: nullable, and the baseline revision adds it to an older database.
    weight_tolerance_g: float | None = None


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"
    code: str = Field(primary_key=True)
    zone: str
    module: str | None = None
    sku: str | None = None
    on_hand: int | None = None


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    order_id: str = Field(primary_key=True)
    status: str = Field(index=True)
    priority: int = 0
    tote: str | None = None
    fingerprint: str
    runs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Wall clock when last picked, packed or cancelled; indexed for the store's retention sweep.
    finished_at: float | None = Field(default=None, index=True)


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"
    order_id: str = Field(primary_key=True)
    line_id: str = Field(primary_key=True)
    position: int
    sku: str
    qty: int
    location: str | None = None
    picked: int = 0
    status: str
    ticket: int | None = None


class LightRow(SQLModel, table=True):
    __tablename__ = "lights"
    module: str = Field(primary_key=True)
    seq: int
    color: str | None = None
    blink: str = "none"
    display: str = ""
    order_id: str | None = None
    line_id: str | None = None


class DeviceRow(SQLModel, table=True):
    __tablename__ = "devices"
    id: str = Field(primary_key=True)
    kind: str
    transport: str
    online: bool | None = None
    last_seen: float | None = None


class ExceptionRow(SQLModel, table=True):
    __tablename__ = "exceptions"
    id: int = Field(primary_key=True)
    kind: str
    message: str
    status: str = Field(index=True)
    raised_at: float
    last_at: float | None = None
    count: int = 1
    order_id: str | None = None
    location: str | None = None
    device: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    resolved_at: float | None = None
    resolved_by: str | None = None
    note: str | None = None


class EventRow(SQLModel, table=True):
    """The durable event log: `seq` is gap-free and increasing, `id` is the webhook id."""

    __tablename__ = "events"
    seq: int = Field(primary_key=True)
    id: str = Field(unique=True)
    type: str
    occurred_at: float
    order_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class InboundIdRow(SQLModel, table=True):
    """Ids of device messages already applied, so a QoS 1 redelivery or a replay is applied once.

    A ring of `Store.remember_inbound` slots: the n-th id remembered goes to slot n modulo its size, over
    the id remembered that many before it. The table stays the same size however long the floor runs, and
    a batch's ids land in one or two neighbouring pages, without an index to update.
    """

    __tablename__ = "inbound_ids"
    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int  # how many ids were remembered before this one, ever
    id: str
    received_at: float


class WebhookEndpointRow(SQLModel, table=True):
    """An ERP receiver: URL, event filter, and its signing secrets (the previous one while rotating)."""

    __tablename__ = "webhook_endpoints"
    id: str = Field(primary_key=True)
    url: str
    name: str | None = None
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str
    previous_secret: str | None = None
    previous_secret_until: float | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    source: str = "api"  # "site" for endpoints from the site file
    created_at: float


class WebhookDeliveryRow(SQLModel, table=True):
    """One event owed to one endpoint: written in the same transaction as the event itself."""

    __tablename__ = "webhook_deliveries"
    endpoint_id: str = Field(primary_key=True)
    event_seq: int = Field(primary_key=True)
    event_id: str
    event_type: str
    order_id: str | None = Field(default=None, index=True)
    status: str = Field(index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: float
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: float
    delivered_at: float | None = None


class StationRow(SQLModel, table=True):
    """Live state of a site-file station (who is signed in there); the rest comes from the site file."""

    __tablename__ = "stations"
    id: str = Field(primary_key=True)
    kind: str
    zone: str | None = None
    operator: str | None = None


class LineScanRow(SQLModel, table=True):
    """The item scan that armed an order line in a scan-verify zone (its own table: old stores gain it)."""

    __tablename__ = "line_scans"
    order_id: str = Field(primary_key=True)
    line_id: str = Field(primary_key=True)
    gtin: str
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None
    station: str | None = None


class PackStationRow(SQLModel, table=True):
    """Weigh-verify state of a pack station that must survive a restart: its order and verdict."""

    __tablename__ = "pack_stations"
    station: str = Field(primary_key=True)
    phase: str
    order_id: str | None = None
    expected_g: float | None = None
    tolerance_g: float | None = None
    measured_g: float | None = None
    delta_g: float | None = None
    problem: str | None = None
    message: str = ""
    await_zero: bool = False
    updated_at: float | None = None


class BatchRow(SQLModel, table=True):
    """A batch of orders picked as one walk and sorted at a put wall (core/batches.py)."""

    __tablename__ = "batches"
    batch_id: str = Field(primary_key=True)
    wall: str
    fingerprint: str
    number: int
    status: str
    runs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class BatchOrderRow(SQLModel, table=True):
    """One order of a batch at the put wall: its cubby, what was picked for it, put, and on its way."""

    __tablename__ = "batch_orders"
    batch_id: str = Field(primary_key=True)
    order_id: str = Field(primary_key=True)
    position: int
    state: str
    cubby: str | None = None
    picked: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    put: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    pending_sku: str | None = None
    pending_qty: int | None = None


class BatchPickRow(SQLModel, table=True):
    """One bin lit once for a batch, with the summed quantity of its orders' lines there."""

    __tablename__ = "batch_picks"
    batch_id: str = Field(primary_key=True)
    location: str = Field(primary_key=True)
    sku: str
    qty: int
    picked: int = 0
    status: str
    ticket: int | None = None


class WallRow(SQLModel, table=True):
    """A put wall of the site file and what its screen shows the sorter."""

    __tablename__ = "walls"
    id: str = Field(primary_key=True)
    cubbies: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    scan: str | None = None
    sku: str | None = None
    cubby: str | None = None
    qty: int | None = None
    message: str = ""
    error: bool = False


class StationModeRow(SQLModel, table=True):
    """A zone station's mode ("pick" or "putaway"): its own table, so stores made before modes gain it."""

    __tablename__ = "station_modes"
    station: str = Field(primary_key=True)
    mode: str


class PutawayRow(SQLModel, table=True):
    """A putaway task (core/putaway.py): its bin, its place in the bin's queue, and what was put."""

    __tablename__ = "putaways"
    task_id: str = Field(primary_key=True)
    sku: str
    qty: int
    location: str
    fingerprint: str
    status: str
    ticket: int | None = None
    put: int | None = None
    station: str | None = None
    operator: str | None = None
    created_at: float
    finished_at: float | None = None


class CycleCountRow(SQLModel, table=True):
    """A cycle count (core/cycle_counts.py); its bins are rows of `count_bins`."""

    __tablename__ = "cycle_counts"
    count_id: str = Field(primary_key=True)
    blind: bool
    zone: str | None = None
    fingerprint: str
    status: str
    started_at: float
    finished_at: float | None = None
    variance_exception_pct: float
    started_by: str | None = None  # the role that started it ("by" is a reserved word in SQL)


class CountBinRow(SQLModel, table=True):
    """One bin of a cycle count: its place in the bin's queue, the record it was compared with, the count."""

    __tablename__ = "count_bins"
    count_id: str = Field(primary_key=True)
    location: str = Field(primary_key=True)
    position: int
    status: str
    ticket: int | None = None
    sku: str | None = None
    expected: int | None = None
    counted: int | None = None
    variance: int | None = None
    adjusted: int = 0
    recounts: int = 0
    counted_at: float | None = None


class CountPolicyRow(SQLModel, table=True):
    """The site file's `[counts]` as the floor last took it (one row, id "site")."""

    __tablename__ = "count_policy"
    id: str = Field(primary_key=True)
    variance_exception_pct: float
