"""Putaway and cycle counts: their tasks, the zone stations' modes and the site's count policy.

Five new tables, nothing in the others changes: `putaways`; `cycle_counts` with their `count_bins`;
`station_modes` (a zone station set to putaway); `count_policy` (`[counts] variance_exception_pct` as the
floor last had it). edge/store/tasks.py writes and reads them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "count_bins",
        sa.Column("count_id", sa.String(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=True),
        sa.Column("sku", sa.String(), nullable=True),
        sa.Column("expected", sa.Integer(), nullable=True),
        sa.Column("counted", sa.Integer(), nullable=True),
        sa.Column("variance", sa.Integer(), nullable=True),
        sa.Column("adjusted", sa.Integer(), nullable=False),
        sa.Column("recounts", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("count_id", "location"),
    )
    op.create_table(
        "count_policy",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("variance_exception_pct", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "cycle_counts",
        sa.Column("count_id", sa.String(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("zone", sa.String(), nullable=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("variance_exception_pct", sa.Float(), nullable=False),
        sa.Column("started_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("count_id"),
    )
    op.create_table(
        "putaways",
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=True),
        sa.Column("put", sa.Integer(), nullable=True),
        sa.Column("station", sa.String(), nullable=True),
        sa.Column("operator", sa.String(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_table(
        "station_modes",
        sa.Column("station", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("station"),
    )


def downgrade() -> None:
    raise NotImplementedError("going back is restoring the copy made before the upgrade")
