"""Equipment: probe sessions, up/down transitions, declared downtime.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_transitions_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_transitions")),
    )
    with op.batch_alter_table("device_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_transitions_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "downtimes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_downtimes_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtimes")),
    )
    with op.batch_alter_table("downtimes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_downtimes_device_id"), ["device_id"], unique=False)

    op.create_table(
        "probe_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_probe_sessions_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_sessions")),
    )
    with op.batch_alter_table("probe_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_probe_sessions_device_id"), ["device_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("probe_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_sessions_device_id"))

    op.drop_table("probe_sessions")
    with op.batch_alter_table("downtimes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_downtimes_device_id"))

    op.drop_table("downtimes")
    with op.batch_alter_table("device_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_transitions_device_id"))

    op.drop_table("device_transitions")
