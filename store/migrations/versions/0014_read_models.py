"""Read models kept by the fold: figure rows per order, board state, volume counts per hour.

Backfilled from the orders already stored (store.rebuild), in the facility time zone the
migration is given (`config.attributes["facility_tz"]`, UTC when none).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import context, op

from store.rebuild import ReadModelTables, rebuild_read_models
from store.schema import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_figures",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("figure", sa.String(length=32), nullable=False),
        sa.Column("end_at", _TIME, nullable=False),
        sa.Column("value_ms", sa.BigInteger(), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("patient_class", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_figures_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "figure", name=op.f("pk_order_figures")),
    )
    op.create_index(
        op.f("ix_order_figures_figure_end_at"),
        "order_figures",
        ["figure", "end_at"],
        postgresql_include=["value_ms", "modality", "priority", "patient_class", "device"],
    )
    op.create_table(
        "board_orders",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", _TIME, nullable=False),
        sa.Column("scheduled_start", _TIME, nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_board_orders_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_board_orders")),
    )
    op.create_index(
        op.f("ix_board_orders_state_since_order_id"), "board_orders", ["state", "since", "order_id"]
    )
    op.create_table(
        "volume_hours",
        sa.Column("hour_at", _TIME, nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("wall_hour", sa.BigInteger(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("ordered", "performed", "reported", "cancelled", "no_shows")
        ),
        sa.PrimaryKeyConstraint("hour_at", "modality", "device", name=op.f("pk_volume_hours")),
    )
    # The rows the orders already stored owe the new tables, by the fold's own rules, with
    # this revision's columns (later revisions fill theirs).
    tz = ZoneInfo(context.config.attributes.get("facility_tz", "UTC"))
    rebuild_read_models(op.get_bind(), tz, _TABLES)


def _table(
    name: str, *columns: str, times: tuple[str, ...] = (), days: tuple[str, ...] = ()
) -> sa.TableClause:
    return sa.table(
        name,
        *(sa.column(c) for c in columns),
        *(sa.column(c, UtcDateTime()) for c in times),
        *(sa.column(c, sa.Date()) for c in days),
    )


_TABLES = ReadModelTables(
    figures=_table(
        "order_figures",
        *("order_id", "figure", "value_ms", "modality", "priority", "patient_class", "device"),
        times=("end_at",),
        days=("day",),
    ),
    board=_table(
        "board_orders",
        *("order_id", "state", "modality", "device"),
        times=("since", "scheduled_start"),
    ),
    volumes=_table(
        "volume_hours",
        *("modality", "device", "wall_hour", "ordered", "performed", "reported", "cancelled"),
        "no_shows",
        times=("hour_at",),
    ),
    counts=None,
)


def downgrade() -> None:
    op.drop_table("volume_hours")
    op.drop_index(op.f("ix_board_orders_state_since_order_id"), table_name="board_orders")
    op.drop_table("board_orders")
    op.drop_index(op.f("ix_order_figures_figure_end_at"), table_name="order_figures")
    op.drop_table("order_figures")
