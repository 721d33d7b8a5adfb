"""Indexes on the milestone columns that the flow figures and volumes filter on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_arrived_at"), ["arrived_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_cancelled_at"), ["cancelled_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_discontinued_at"), ["discontinued_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_exam_completed_at"), ["exam_completed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_exam_started_at"), ["exam_started_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_final_report_at"), ["final_report_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_images_available_at"), ["images_available_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_no_show_at"), ["no_show_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_preliminary_report_at"), ["preliminary_report_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_preliminary_report_at"))
        batch_op.drop_index(batch_op.f("ix_orders_no_show_at"))
        batch_op.drop_index(batch_op.f("ix_orders_images_available_at"))
        batch_op.drop_index(batch_op.f("ix_orders_final_report_at"))
        batch_op.drop_index(batch_op.f("ix_orders_exam_started_at"))
        batch_op.drop_index(batch_op.f("ix_orders_exam_completed_at"))
        batch_op.drop_index(batch_op.f("ix_orders_discontinued_at"))
        batch_op.drop_index(batch_op.f("ix_orders_cancelled_at"))
        batch_op.drop_index(batch_op.f("ix_orders_arrived_at"))
