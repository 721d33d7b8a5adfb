"""Indexes that let DICOM objects find their order, and an order its waiting objects.

Every new order looks for studies and procedure steps that came before it (by accession and
Study Instance UID), and every MPPS and first instance of a study looks for its order (by Study
Instance UID and Requested Procedure ID). Without these indexes each such lookup scanned the
whole table, so ingest slowed as the tables grew.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_study_instance_uid"), ["study_instance_uid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_requested_procedure_id"), ["requested_procedure_id"], unique=False
        )

    with op.batch_alter_table("procedure_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_procedure_steps_accession"), ["accession"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_procedure_steps_study_instance_uid"),
            ["study_instance_uid"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("procedure_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procedure_steps_study_instance_uid"))
        batch_op.drop_index(batch_op.f("ix_procedure_steps_accession"))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_requested_procedure_id"))
        batch_op.drop_index(batch_op.f("ix_orders_study_instance_uid"))
