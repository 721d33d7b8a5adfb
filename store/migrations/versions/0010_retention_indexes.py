"""Indexes that keep pruning the message log cheap.

Pruning deletes old message-log rows; the timeline, reports, arrivals and instances that name
them keep their facts and lose the reference. Without indexes on those references each pruned
batch scanned all four tables (and PostgreSQL's foreign key checks did again). A partial index
holds the messages whose body is still kept, so clearing old bodies never rescans the ones
already cleared.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFERRING = ("order_timeline", "reports", "patient_arrivals", "instances")


def upgrade() -> None:
    for table in _REFERRING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_message_id"), ["message_id"])
    kept = sa.text("length(raw) > 0")
    op.create_index(
        "ix_messages_body_kept",
        "messages",
        ["received_at"],
        sqlite_where=kept,
        postgresql_where=kept,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_body_kept", table_name="messages")
    for table in _REFERRING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_message_id"))
