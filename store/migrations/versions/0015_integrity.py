"""Integrity: the study header's patient (to compare with the order's) and the PACS
reconciliations.

Studies stored before this revision keep an empty name, sex and birth date: a field either
side leaves empty is never a disagreement.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("patient_name", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("patient_birth_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("patient_sex", sa.String(length=16), nullable=False, server_default="")
        )
    op.create_table(
        "pacs_checks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("checked_at", _TIME, nullable=False),
        sa.Column("window_first", sa.Date(), nullable=False),
        sa.Column("window_last", sa.Date(), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("unordered", sa.Text(), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacs_checks")),
    )
    op.create_index(op.f("ix_pacs_checks_checked_at"), "pacs_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pacs_checks_checked_at"), table_name="pacs_checks")
    op.drop_table("pacs_checks")
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of `studies` would have to drop the
    # table that series refer to, which SQLite's foreign keys refuse once it holds rows.
    for name in ("patient_sex", "patient_birth_date", "patient_name"):
        op.execute(f"ALTER TABLE studies DROP COLUMN {name}")
