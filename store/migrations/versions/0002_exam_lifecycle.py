"""Exam lifecycle: appointments, visits, merges, reports and arrivals.

Existing rows get empty strings for the new text columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_arrivals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_patient_arrivals_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_arrivals_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_arrivals")),
    )
    with op.batch_alter_table("patient_arrivals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_arrivals_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("radiologist_id", sa.String(length=64), nullable=False),
        sa.Column("radiologist_name", sa.String(length=255), nullable=False),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_reports_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reports_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_order_id"), ["order_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requested_procedure_id", sa.String(length=64), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("patient_class", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("location", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("study_instance_uid", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("details_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("scheduled_duration_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("scheduled_resource", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("schedule_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("no_show_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_orders_scheduled_start"), ["scheduled_start"], unique=False
        )

    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("patient_class", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("location", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("visit_number", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "merged_into_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_merged_into_id_patients"),
            "patients",
            ["merged_into_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_patients_merged_into_id_patients"), type_="foreignkey"
        )
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("visit_number")
        batch_op.drop_column("location")
        batch_op.drop_column("patient_class")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_scheduled_start"))
        batch_op.drop_column("no_show_at")
        batch_op.drop_column("schedule_at")
        batch_op.drop_column("scheduled_resource")
        batch_op.drop_column("scheduled_duration_minutes")
        batch_op.drop_column("scheduled_start")
        batch_op.drop_column("details_at")
        batch_op.drop_column("study_instance_uid")
        batch_op.drop_column("location")
        batch_op.drop_column("patient_class")
        batch_op.drop_column("requested_procedure_id")

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_order_id"))

    op.drop_table("reports")
    with op.batch_alter_table("patient_arrivals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_arrivals_patient_id"))

    op.drop_table("patient_arrivals")
