"""Indexes the Modality Worklist reads open orders by: station or modality, then scheduled start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression and predicate as store/worklist.py queries (an index serves a query
# only when both match).
_START = sa.text("coalesce(scheduled_start, ordered_at)")
_OPEN = sa.text("exam_completed_at IS NULL AND cancelled_at IS NULL AND discontinued_at IS NULL")


def upgrade() -> None:
    for name, column in (
        ("ix_orders_worklist_station", "scheduled_resource"),
        ("ix_orders_worklist_modality", "modality"),
    ):
        op.create_index(
            name,
            "orders",
            [sa.column(column), _START],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )


def downgrade() -> None:
    op.drop_index("ix_orders_worklist_modality", table_name="orders")
    op.drop_index("ix_orders_worklist_station", table_name="orders")
