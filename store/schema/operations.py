"""The gateway's own records: the audit trail and the outbox of messages to send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema.base import Base, Id, UtcDateTime


class AuditRecord(Base):
    """Who read or changed what through the API, when, from where, and the answer. Kept
    apart from the message log, for `[retention] audit_days`."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128), default="")  # the token's name
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(8))  # read / change
    entity: Mapped[str] = mapped_column(String(64))  # what kind of data: orders, Patient...
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    query: Mapped[str] = mapped_column(Text, default="")  # the search, as asked
    peer: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[int] = mapped_column(Integer)


class OutboxRecord(Base):
    """What the gateway owes a destination: one row per event per destination, written by
    the fold in the commit of the change behind it, and its journey to the acknowledgement."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # hl7 / webhook
    event_type: Mapped[str] = mapped_column(String(32))  # a milestone, or a webhook type
    # Rows with the same key go to a destination strictly in id order (one order, one device).
    sequence_key: Mapped[str] = mapped_column(String(128))
    # The webhook's event id, or the HL7 message's MSH-10: the same on every attempt.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    data: Mapped[str] = mapped_column(Text)  # the event's facts as JSON
    # What is sent, rendered at the first claim and then kept, so a retry sends the same bytes.
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))  # pending / delivered / dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # committed
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A claim is a lease: a process that dies holding it gives the row back when it ends.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str] = mapped_column(String(128), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The claim: a destination's pending rows that are due.
        Index(None, "destination", "state", "next_attempt_at"),
        # The order rule: an earlier row of the same key not yet delivered holds a row back.
        Index(None, "destination", "sequence_key", "id"),
        Index(None, "created_at"),
    )
