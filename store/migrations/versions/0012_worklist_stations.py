"""Worklist stations: a step's Scheduled Station AE Titles (several), Station Name and
Scheduled Procedure Step ID, read from OMI^O23 IPC-9, IPC-7 and IPC-4; station queries read
open orders by scheduled start.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression and predicate as store/worklist.py queries (see 0008).
_START = sa.text("coalesce(scheduled_start, ordered_at)")
# Null exactly when the order is open; leading the start index so that SQLite's planner,
# without statistics, reads it rather than the single-column cancelled_at index.
_ENDED = sa.text("coalesce(exam_completed_at, cancelled_at, discontinued_at)")
_OPEN = sa.text("exam_completed_at IS NULL AND cancelled_at IS NULL AND discontinued_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(
            sa.Column(
                "scheduled_stations", sa.String(length=1024), nullable=False, server_default=""
            )
        )
        for name in ("scheduled_station_name", "scheduled_step_id"):
            batch_op.add_column(
                sa.Column(name, sa.String(length=64), nullable=False, server_default="")
            )
    # A step on several stations, or on those its modality is given in the settings, is found
    # by no single-column index: station queries read the open orders of their start range.
    op.drop_index("ix_orders_worklist_station", table_name="orders")
    op.create_index(
        "ix_orders_worklist_start",
        "orders",
        [_ENDED, _START],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_orders_worklist_start", table_name="orders")
    op.create_index(
        "ix_orders_worklist_station",
        "orders",
        [sa.column("scheduled_resource"), _START],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_column("scheduled_step_id")
        batch_op.drop_column("scheduled_station_name")
        batch_op.drop_column("scheduled_stations")
