"""The baseline: the schema of the releases before schema versions, and the additive upgrades they ran.

A store without a version table is at no revision, and this one brings it to the baseline whatever it is:
an empty database gets every table; a store an earlier release made gets the tables, columns and indexes
added since, loses the indexes nothing reads, and has its applied message ids moved to the ring. Each
step looks before it acts, so it is safe on a store that already has the baseline's shape.

The tables are written out here as they were, not taken from `tables.py`: that file moves on with later
revisions, and this one must keep making the same schema.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from alembic import op

from floorgate.edge.store.migrations import UpgradeRefused

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

log = logging.getLogger("floorgate.edge.store.migrations")

BASELINE = sa.MetaData()


def _text(name: str, *, nullable: bool = False, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable, primary_key=primary_key)


def _float(name: str, *, nullable: bool = True) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _int(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


sa.Table(
    "zones",
    BASELINE,
    _text("id", primary_key=True),
    sa.Column("scan_verify", sa.Boolean(), nullable=False),
    _text("name"),
)
sa.Table(
    "items",
    BASELINE,
    _text("sku", primary_key=True),
    _text("description"),
    _json("gtins"),
    _float("unit_weight_g"),
    _float("weight_tolerance_g"),
)
sa.Table(
    "locations",
    BASELINE,
    _text("code", primary_key=True),
    _text("zone"),
    _text("module", nullable=True),
    _text("sku", nullable=True),
    _int("on_hand", nullable=True),
)
ORDERS = sa.Table(
    "orders",
    BASELINE,
    _text("order_id", primary_key=True),
    _text("status"),
    _int("priority"),
    _text("tote", nullable=True),
    _text("fingerprint"),
    _json("runs"),
    _float("finished_at"),
    sa.Index("ix_orders_status", "status"),
    sa.Index("ix_orders_finished_at", "finished_at"),
)
sa.Table(
    "order_lines",
    BASELINE,
    _text("order_id", primary_key=True),
    _text("line_id", primary_key=True),
    _int("position"),
    _text("sku"),
    _int("qty"),
    _text("location", nullable=True),
    _int("picked"),
    _text("status"),
    _int("ticket", nullable=True),
)
sa.Table(
    "lights",
    BASELINE,
    _text("module", primary_key=True),
    _int("seq"),
    _text("color", nullable=True),
    _text("blink"),
    _text("display"),
    _text("order_id", nullable=True),
    _text("line_id", nullable=True),
)
sa.Table(
    "devices",
    BASELINE,
    _text("id", primary_key=True),
    _text("kind"),
    _text("transport"),
    sa.Column("online", sa.Boolean(), nullable=True),
    _float("last_seen"),
)
sa.Table(
    "exceptions",
    BASELINE,
    sa.Column("id", sa.Integer(), primary_key=True),
    _text("kind"),
    _text("message"),
    _text("status"),
    _float("raised_at", nullable=False),
    _float("last_at"),
    _int("count"),
    _text("order_id", nullable=True),
    _text("location", nullable=True),
    _text("device", nullable=True),
    _json("detail"),
    _float("resolved_at"),
    _text("resolved_by", nullable=True),
    _text("note", nullable=True),
    sa.Index("ix_exceptions_status", "status"),
)
sa.Table(
    "events",
    BASELINE,
    sa.Column("seq", sa.Integer(), primary_key=True),
    _text("id"),
    _text("type"),
    _float("occurred_at", nullable=False),
    _text("order_id", nullable=True),
    _json("data"),
    sa.UniqueConstraint("id"),
)
INBOUND = sa.Table(
    "inbound_ids",
    BASELINE,
    sa.Column("slot", sa.Integer(), primary_key=True, autoincrement=False),
    _int("seq"),
    _text("id"),
    _float("received_at", nullable=False),
)
sa.Table(
    "webhook_endpoints",
    BASELINE,
    _text("id", primary_key=True),
    _text("url"),
    _text("name", nullable=True),
    _json("events"),
    _text("secret"),
    _text("previous_secret", nullable=True),
    _float("previous_secret_until"),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    _text("disabled_reason", nullable=True),
    _text("source"),
    _float("created_at", nullable=False),
)
sa.Table(
    "webhook_deliveries",
    BASELINE,
    _text("endpoint_id", primary_key=True),
    sa.Column("event_seq", sa.Integer(), primary_key=True, autoincrement=False),
    _text("event_id"),
    _text("event_type"),
    _text("order_id", nullable=True),
    _text("status"),
    _int("attempts"),
    _float("next_attempt_at", nullable=False),
    _int("last_status_code", nullable=True),
    _text("last_error", nullable=True),
    _float("created_at", nullable=False),
    _float("delivered_at"),
    sa.Index("ix_webhook_deliveries_status", "status"),
    sa.Index("ix_webhook_deliveries_order_id", "order_id"),
)
sa.Table(
    "stations",
    BASELINE,
    _text("id", primary_key=True),
    _text("kind"),
    _text("zone", nullable=True),
    _text("operator", nullable=True),
)
sa.Table(
    "line_scans",
    BASELINE,
    _text("order_id", primary_key=True),
    _text("line_id", primary_key=True),
    _text("gtin"),
    _text("lot", nullable=True),
    _text("serial", nullable=True),
    _text("expiry", nullable=True),
    _text("station", nullable=True),
)
sa.Table(
    "pack_stations",
    BASELINE,
    _text("station", primary_key=True),
    _text("phase"),
    _text("order_id", nullable=True),
    _float("expected_g"),
    _float("tolerance_g"),
    _float("measured_g"),
    _float("delta_g"),
    _text("problem", nullable=True),
    _text("message"),
    sa.Column("await_zero", sa.Boolean(), nullable=False),
    _float("updated_at"),
)

# The order statuses that finish an order, as they were spelled when `finished_at` was added.
FINISHED_STATUSES = ("picked", "packed", "cancelled")
# Columns added after the first release, with what fills them in the rows already there (run with `now`).
# Nullable, no default: an old row without a fill reads as "not set".
ADDED_COLUMNS: tuple[tuple[str, str, sa.Update | None], ...] = (
    ("items", "weight_tolerance_g", None),
    (
        "orders",
        "finished_at",
        # Orders already finished count as finished at the upgrade: they leave memory one retention later.
        sa.update(ORDERS)
        .where(ORDERS.c.status.in_(FINISHED_STATUSES))
        .values(finished_at=sa.bindparam("now")),
    ),
)
# Indexes earlier releases made that no query of the edge uses (the floor lives in memory; the event log
# is read by seq). Each cost every press a page in the write-ahead log.
DROPPED_INDEXES = {
    "locations": ("ix_locations_zone", "ix_locations_module"),
    "events": ("ix_events_type", "ix_events_order_id"),
}
# The table of applied message ids in releases before the ring; its recent ids move to the ring.
LEGACY_INBOUND = "inbound_messages"
# How many applied ids the ring keeps unless the edge says otherwise (Store.remember_inbound).
DEFAULT_REMEMBER_INBOUND = 200_000


def upgrade() -> None:
    bind = op.get_bind()
    BASELINE.create_all(bind, checkfirst=True)
    inspector = sa.inspect(bind)
    for name, column, fill in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(name)}:
            log.info("adding a column to the store", extra={"table": name, "column": column})
            op.add_column(name, sa.Column(column, BASELINE.tables[name].c[column].type, nullable=True))
            if fill is not None:
                bind.execute(fill, {"now": time.time()})
    # create_all makes a missing table with its indexes, not an index added to a table since.
    for table in BASELINE.sorted_tables:
        for index in table.indexes:
            index.create(bind, checkfirst=True)
    for name, unused in DROPPED_INDEXES.items():
        for found in inspector.get_indexes(name):
            if found["name"] in unused:
                log.info("dropping an unused index", extra={"table": name, "index": found["name"]})
                op.drop_index(found["name"], table_name=name)
    if inspector.has_table(LEGACY_INBOUND):
        _move_legacy_inbound_ids(bind)


def _move_legacy_inbound_ids(bind: sa.Connection) -> None:
    """Earlier releases kept every applied id for ever, in a table with two indexes (three WAL pages a
    press, and a store that only grew): its most recent ids move to the ring, and it is dropped."""
    if bind.execute(sa.select(sa.func.count()).select_from(INBOUND)).scalar():
        raise UpgradeRefused(
            f"it has applied message ids in both {LEGACY_INBOUND} (from an earlier release) and "
            f"{INBOUND.name}; it was changed by hand or by two releases at once"
        )
    config = op.get_context().config
    size = int(
        (config.attributes if config is not None else {}).get("remember_inbound", DEFAULT_REMEMBER_INBOUND)
    )
    log.info(
        "moving applied message ids to the ring of recent ones, once: about 1.5 s a million ids",
        extra={"from": LEGACY_INBOUND, "to": INBOUND.name},
    )
    started = time.monotonic()
    legacy = sa.Table(LEGACY_INBOUND, sa.MetaData(), autoload_with=bind)
    newest_first = bind.execute(
        sa.select(legacy.c.id, legacy.c.received_at).order_by(legacy.c.received_at.desc()).limit(size)
    ).all()
    recent = [(str(i), float(t)) for i, t in reversed(newest_first)]
    if recent:
        bind.execute(
            INBOUND.insert(),
            [{"slot": n % size, "seq": n, "id": i, "received_at": t} for n, (i, t) in enumerate(recent)],
        )
    op.drop_table(LEGACY_INBOUND)
    log.info(
        "moved applied message ids to the ring of recent ones; the old table is dropped",
        extra={"kept": len(recent), "seconds": round(time.monotonic() - started, 2)},
    )


def downgrade() -> None:
    raise NotImplementedError(
        "the baseline has nothing below it: restore the backup taken before the upgrade instead"
    )
