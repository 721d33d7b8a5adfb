"""Turnaround figures as generated columns, and covering indexes by each figure's END time.

The turnaround query read every order in its window from the heap and evaluated numeric
time arithmetic for each figure of each order: 16 s over 1,000,000 orders (bench/). The
figures are now generated columns (whole milliseconds, stored), and one partial index per
END time carries them with the goal and group columns, so PostgreSQL reads a window from
the index alone. SQLite stores generated columns only in CREATE TABLE, so there the table
is rebuilt.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# figure column -> (start, end), as in store.figures.FIGURES.
_FIGURES = {
    "access_ms": ("ordered_at", "exam_started_at"),
    "wait_ms": ("arrived_at", "exam_started_at"),
    "start_delay_ms": ("scheduled_start", "exam_started_at"),
    "exam_duration_ms": ("exam_started_at", "exam_completed_at"),
    "report_turnaround_ms": ("exam_completed_at", "final_report_at"),
    "preliminary_turnaround_ms": ("exam_completed_at", "preliminary_report_at"),
    "total_turnaround_ms": ("ordered_at", "final_report_at"),
}
_INDEXES = {
    "exam_started_at": ["access_ms", "wait_ms", "start_delay_ms"],
    "exam_completed_at": ["exam_duration_ms"],
    "final_report_at": ["report_turnaround_ms", "total_turnaround_ms"],
    "preliminary_report_at": ["preliminary_turnaround_ms"],
}


def _milliseconds(dialect: str, begin: str, end: str) -> sa.TextClause:
    if dialect == "sqlite":
        days = f"julianday({end}) - julianday({begin})"
        return sa.text(f"CAST(round(({days}) * 86400000) AS INTEGER)")
    return sa.text(f"CAST(round(EXTRACT(epoch FROM ({end} - {begin})) * 1000) AS BIGINT)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    columns = [
        sa.Column(
            name,
            sa.BigInteger(),
            sa.Computed(_milliseconds(dialect, begin, end), persisted=True),
            nullable=True,
        )
        for name, (begin, end) in _FIGURES.items()
    ]
    with op.batch_alter_table(
        "orders", schema=None, recreate="always" if dialect == "sqlite" else "auto"
    ) as batch_op:
        for added in columns:
            batch_op.add_column(added)
    for end, figures in _INDEXES.items():
        where = sa.text(f"{end} IS NOT NULL AND cancelled_at IS NULL")
        op.create_index(
            f"ix_orders_turnaround_{end}",
            "orders",
            [end],
            unique=False,
            postgresql_include=["modality", "priority", "patient_class", *figures],
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    for end in reversed(list(_INDEXES)):
        op.drop_index(f"ix_orders_turnaround_{end}", table_name="orders")
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table(
        "orders", schema=None, recreate="always" if dialect == "sqlite" else "auto"
    ) as batch_op:
        for name in reversed(list(_FIGURES)):
            batch_op.drop_column(name)
