"""Figure rows counted per value bucket, so that a turnaround read ranks few values.

Each figure row gets its value bucket (store.figure_buckets), indexes for reading one bucket
of a window in order, and its place in the new counts per bucket and facility day, week and
month. The rows already stored are backfilled in SQL, from the values and days they already
carry: the buckets by UPDATE, the counts by INSERT ... SELECT (store.rebuild.count_figures),
each in statements of a part of the rows, so that none outlasts the engine's command timeout
(30 s by default) at a million orders.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.figure_buckets import bucket_expression
from store.rebuild import count_figures

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GROUPS = ["modality", "priority", "patient_class", "device"]
_ORDERS_AT_A_TIME = 20_000
_OWN_TABLE_ONLY = {"resolve_fks": False}


def upgrade() -> None:
    op.add_column("order_figures", sa.Column("bucket", sa.BigInteger(), nullable=True))
    _fill_buckets(op.get_bind())
    # SQLite copies the table to change the column; its foreign key needs no look at orders.
    with op.batch_alter_table("order_figures", reflect_kwargs=_OWN_TABLE_ONLY) as batch_op:
        batch_op.alter_column("bucket", existing_type=sa.BigInteger(), nullable=False)
    # The part days at a window's edges are counted per bucket from this index alone.
    op.drop_index(op.f("ix_order_figures_figure_end_at"), table_name="order_figures")
    op.create_index(
        op.f("ix_order_figures_figure_end_at"),
        "order_figures",
        ["figure", "end_at"],
        postgresql_include=["value_ms", *_GROUPS, "bucket"],
    )
    op.create_index(
        op.f("ix_order_figures_figure_bucket_end_at"),
        "order_figures",
        ["figure", "bucket", "end_at"],
        postgresql_include=["value_ms", *_GROUPS],
    )
    op.create_index(
        op.f("ix_order_figures_figure_modality_bucket_end_at"),
        "order_figures",
        ["figure", "modality", "bucket", "end_at"],
        postgresql_include=["value_ms"],
    )
    op.create_table(
        "figure_counts",
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(length=32), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("patient_class", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "span",
            "start",
            "figure",
            "modality",
            "priority",
            "patient_class",
            "bucket",
            name=op.f("pk_figure_counts"),
        ),
    )
    count_figures(op.get_bind())


def _fill_buckets(conn: sa.Connection) -> None:
    """Every figure row's bucket, the rows of _ORDERS_AT_A_TIME orders a statement."""
    figures = sa.table(
        "order_figures",
        sa.column("order_id", sa.BigInteger()),
        sa.column("value_ms", sa.BigInteger()),
        sa.column("bucket", sa.BigInteger()),
    )
    low, high = conn.execute(
        sa.select(sa.func.min(figures.c.order_id), sa.func.max(figures.c.order_id))
    ).one()
    if low is None:
        return
    for first in range(low, high + 1, _ORDERS_AT_A_TIME):
        conn.execute(
            figures.update()
            .where(figures.c.order_id >= first, figures.c.order_id < first + _ORDERS_AT_A_TIME)
            .values(bucket=bucket_expression(figures.c.value_ms))
        )


def downgrade() -> None:
    op.drop_table("figure_counts")
    op.drop_index(
        op.f("ix_order_figures_figure_modality_bucket_end_at"), table_name="order_figures"
    )
    op.drop_index(op.f("ix_order_figures_figure_bucket_end_at"), table_name="order_figures")
    op.drop_index(op.f("ix_order_figures_figure_end_at"), table_name="order_figures")
    op.create_index(
        op.f("ix_order_figures_figure_end_at"),
        "order_figures",
        ["figure", "end_at"],
        postgresql_include=["value_ms", *_GROUPS],
    )
    with op.batch_alter_table("order_figures", reflect_kwargs=_OWN_TABLE_ONLY) as batch_op:
        batch_op.drop_column("bucket")
