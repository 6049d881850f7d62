"""Batch picking and put walls: batches with their orders and bins, and the walls.

Four new tables, nothing in the others changes: `batches`; `batch_orders` (each order of a batch, its
cubby and what was picked for it, put, and on its way); `batch_picks` (each bin lit once for a batch);
`walls` (a put wall of the site file and what its screen shows). edge/store/sorting.py writes and reads
them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_orders",
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("cubby", sa.String(), nullable=True),
        sa.Column("picked", sa.JSON(), nullable=False),
        sa.Column("put", sa.JSON(), nullable=False),
        sa.Column("pending_sku", sa.String(), nullable=True),
        sa.Column("pending_qty", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "order_id"),
    )
    op.create_table(
        "batch_picks",
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("picked", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "location"),
    )
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("wall", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_table(
        "walls",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("cubbies", sa.JSON(), nullable=False),
        sa.Column("scan", sa.String(), nullable=True),
        sa.Column("sku", sa.String(), nullable=True),
        sa.Column("cubby", sa.String(), nullable=True),
        sa.Column("qty", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("error", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    raise NotImplementedError("going back is restoring the copy made before the upgrade")
