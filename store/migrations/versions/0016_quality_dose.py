"""The quality desk: each message's own time and missing recommended fields (the sender
scorecard), and the dose of CT dose reports per irradiation event and per study.

The message log's HL7 rows whose body is still kept are backfilled from it, with the facility
time zone the migration is given (`config.attributes["facility_tz"]`, UTC when none).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import context, op

from mappers.errors import MappingError
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.header import read_header
from mappers.hl7v2.quality import message_time, missing_recommended

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_BACKFILL_CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("sent_at", _TIME, nullable=True))
        batch_op.add_column(
            sa.Column("missing_fields", sa.String(length=255), nullable=False, server_default="")
        )
    op.create_table(
        "dose_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("event_uid", sa.String(length=64), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("accession", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("study_description", sa.String(length=255), nullable=False),
        sa.Column("protocol", sa.String(length=255), nullable=False),
        sa.Column("ctdivol", sa.Float(), nullable=True),
        sa.Column("dlp", sa.Float(), nullable=True),
        sa.Column("received_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dose_events")),
        sa.UniqueConstraint(
            "sop_instance_uid", "event_uid", name=op.f("uq_dose_events_sop_instance_uid_event_uid")
        ),
    )
    op.create_index(op.f("ix_dose_events_accession"), "dose_events", ["accession"])
    op.create_index(
        op.f("ix_dose_events_study_instance_uid"), "dose_events", ["study_instance_uid"]
    )
    op.create_index(
        op.f("ix_dose_events_event_uid_received_at"), "dose_events", ["event_uid", "received_at"]
    )
    _backfill_messages(ZoneInfo(context.config.attributes.get("facility_tz", "UTC")))


def _backfill_messages(tz: ZoneInfo) -> None:
    """Read each kept HL7 body once more for its MSH-7 and missing recommended fields."""
    conn = op.get_bind()
    messages = sa.table(
        "messages",
        sa.column("id", sa.Integer),
        sa.column("protocol", sa.String),
        sa.column("raw", sa.LargeBinary),
        sa.column("charset", sa.String),
        sa.column("sent_at", _TIME),
        sa.column("missing_fields", sa.String),
    )
    sqlite = conn.dialect.name == "sqlite"
    update = (
        messages.update()
        .where(messages.c.id == sa.bindparam("b_id"))
        .values(sent_at=sa.bindparam("b_sent_at"), missing_fields=sa.bindparam("b_missing"))
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(messages.c.id, messages.c.raw, messages.c.charset)
            .where(messages.c.protocol == "hl7v2", messages.c.id > last)
            .order_by(messages.c.id)
            .limit(_BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        changes = []
        for row in rows:
            read = _read(bytes(row.raw or b""), row.charset or "ASCII", tz)
            if read is not None:
                sent_at, missing = read
                if sent_at is not None and sqlite:
                    sent_at = sent_at.replace(tzinfo=None)  # the store keeps UTC, naive
                changes.append({"b_id": row.id, "b_sent_at": sent_at, "b_missing": missing})
        if changes:
            conn.execute(update, changes)


def _read(raw: bytes, charset: str, tz: ZoneInfo) -> tuple[object, str] | None:
    if not raw:
        return None  # the body was pruned: nothing to read it from
    try:
        text, _ = decode_message(raw, charset)
        header = read_header(text)
        missing = missing_recommended(parse_message(text), header)
    except MappingError:
        return None
    return message_time(header, tz), " ".join(missing)


def downgrade() -> None:
    op.drop_index(op.f("ix_dose_events_event_uid_received_at"), table_name="dose_events")
    op.drop_index(op.f("ix_dose_events_study_instance_uid"), table_name="dose_events")
    op.drop_index(op.f("ix_dose_events_accession"), table_name="dose_events")
    op.drop_table("dose_events")
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of `messages` would have to drop the
    # table that orders and studies refer to, which SQLite's foreign keys refuse once it holds
    # rows.
    for name in ("missing_fields", "sent_at"):
        op.execute(f"ALTER TABLE messages DROP COLUMN {name}")
