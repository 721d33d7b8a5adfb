"""The workflow's tables: the message log, patients, orders with their timeline, reports and
arrivals."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema.base import Base, Id, MillisecondsBetween, UtcDateTime


def _turnaround_index(end: str, figures: tuple[str, ...]) -> Index:
    """The turnaround figures ending at `end`, read from the index alone on PostgreSQL."""
    # Partial, as the figures count no cancelled order; the range on `end` implies NOT NULL.
    where = text(f"{end} IS NOT NULL AND cancelled_at IS NULL")
    return Index(
        f"ix_orders_turnaround_{end}",
        end,
        postgresql_include=["modality", "priority", "patient_class", *figures],
        postgresql_where=where,
        sqlite_where=where,
    )


def _figure_column(begin: str, end: str) -> Mapped[int | None]:
    return mapped_column(BigInteger, Computed(MillisecondsBetween(begin, end), persisted=True))


class MessageRecord(Base):
    """Every inbound message as received, with what became of it (the message log)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    protocol: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    receive_count: Mapped[int] = mapped_column(Integer, default=1)
    peer: Mapped[str] = mapped_column(String(255))
    sending_application: Mapped[str | None] = mapped_column(String(255))
    sending_facility: Mapped[str | None] = mapped_column(String(255))
    control_id: Mapped[str | None] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[str | None] = mapped_column(String(16))
    charset: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    outcome: Mapped[str] = mapped_column(String(16))
    ack_code: Mapped[str | None] = mapped_column(String(2))
    error: Mapped[str | None] = mapped_column(Text)
    error_location: Mapped[str | None] = mapped_column(String(64))
    control_id_reused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The message's own time (HL7 MSH-7, in UTC): how late a sender's messages arrive.
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The recommended fields the message left empty ("OBR-4 PV1-2"), space-separated.
    missing_fields: Mapped[str] = mapped_column(String(255), server_default="")

    __table_args__ = (
        # The same message sent again (same sender, control id and bytes) is one row.
        UniqueConstraint(
            "sending_application",
            "sending_facility",
            "control_id",
            "content_sha256",
            name="uq_messages_identity",
        ),
        Index(None, "received_at"),
        Index(None, "outcome", "received_at"),
        Index(None, "message_type", "received_at"),
        # The messages whose body is still kept, oldest first: what pruning clears next
        # (bodies cleared drop out, so each pruning step starts where the last one ended).
        Index(
            "ix_messages_body_kept",
            "received_at",
            sqlite_where=text("length(raw) > 0"),
            postgresql_where=text("length(raw) > 0"),
        ),
    )


class PatientRecord(Base):
    """A patient, identified by (identifier, assigning authority)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(64))
    authority: Mapped[str] = mapped_column(String(64), default="")
    family_name: Mapped[str] = mapped_column(String(128), default="")
    given_name: Mapped[str] = mapped_column(String(128), default="")
    middle_name: Mapped[str] = mapped_column(String(128), default="")
    name_prefix: Mapped[str] = mapped_column(String(32), default="")
    name_suffix: Mapped[str] = mapped_column(String(32), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8), default="")
    patient_class: Mapped[str] = mapped_column(String(16), default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    visit_number: Mapped[str] = mapped_column(String(64), default="")
    # ADT^A40: this identifier now belongs to another patient; it still resolves, to that one.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    # Demographics change only with a message at least as recent as the one that last set them.
    demographics_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("identifier", "authority"),)


class OrderRecord(Base):
    """An imaging order (one exam), identified by its accession number, with its milestones."""

    __tablename__ = "orders"
    __table_args__ = (
        # The board reads open orders by status and today's appointments.
        Index(None, "status", "scheduled_start"),
        # Turnaround reads each figure's window by its END time (store.figures.FIGURES).
        _turnaround_index("exam_started_at", ("access_ms", "wait_ms", "start_delay_ms")),
        _turnaround_index("exam_completed_at", ("exam_duration_ms",)),
        _turnaround_index("final_report_at", ("report_turnaround_ms", "total_turnaround_ms")),
        _turnaround_index("preliminary_report_at", ("preliminary_turnaround_ms",)),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    accession: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    placer_number: Mapped[str] = mapped_column(String(64), default="")
    filler_number: Mapped[str] = mapped_column(String(64), default="")
    procedure_code: Mapped[str] = mapped_column(String(64), default="")
    procedure_text: Mapped[str] = mapped_column(String(255), default="")
    procedure_system: Mapped[str] = mapped_column(String(64), default="")
    requested_procedure_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    modality: Mapped[str] = mapped_column(String(16), default="", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="")
    ordering_provider_id: Mapped[str] = mapped_column(String(64), default="")
    ordering_provider_name: Mapped[str] = mapped_column(String(255), default="")
    ordering_provider_family: Mapped[str] = mapped_column(String(128), default="")
    ordering_provider_given: Mapped[str] = mapped_column(String(128), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    patient_class: Mapped[str] = mapped_column(String(16), default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    study_instance_uid: Mapped[str] = mapped_column(String(64), default="", index=True)
    # The message time of the details above: an older message does not overwrite them.
    details_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The appointment as booked now (SIU, or the order's requested time until SIU books it).
    scheduled_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    scheduled_duration_minutes: Mapped[int | None] = mapped_column(Integer)
    scheduled_resource: Mapped[str] = mapped_column(String(64), default="")
    # Scheduled Station AE Titles from the order (OMI IPC-9), "\\"-separated, and the
    # Scheduled Station Name (IPC-7); the worklist falls back to the resource, then settings.
    scheduled_stations: Mapped[str] = mapped_column(String(1024), default="")
    scheduled_station_name: Mapped[str] = mapped_column(String(64), default="")
    scheduled_step_id: Mapped[str] = mapped_column(String(64), default="")  # IPC-4
    schedule_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    no_show_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    ordered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    exam_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    exam_completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    images_available_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    preliminary_report_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    final_report_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    discontinued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Each turnaround figure (store.figures.FIGURES) in whole milliseconds, computed by the
    # database from the milestones above: stored on PostgreSQL, so the turnaround query reads
    # them from its index instead of evaluating numeric time arithmetic per order.
    access_ms: Mapped[int | None] = _figure_column("ordered_at", "exam_started_at")
    wait_ms: Mapped[int | None] = _figure_column("arrived_at", "exam_started_at")
    start_delay_ms: Mapped[int | None] = _figure_column("scheduled_start", "exam_started_at")
    exam_duration_ms: Mapped[int | None] = _figure_column("exam_started_at", "exam_completed_at")
    report_turnaround_ms: Mapped[int | None] = _figure_column(
        "exam_completed_at", "final_report_at"
    )
    preliminary_turnaround_ms: Mapped[int | None] = _figure_column(
        "exam_completed_at", "preliminary_report_at"
    )
    total_turnaround_ms: Mapped[int | None] = _figure_column("ordered_at", "final_report_at")


# The Modality Worklist (store/worklist.py) reads open orders by modality, or by a range of
# scheduled starts (the order time when nothing was booked), in start order. A station query
# reads the start range: a step may be on several stations, or on those the settings give
# its modality, which no one-column index can serve (0012). Only open orders are indexed:
# closed ones, most of the table over time, are never on the worklist.
_WORKLIST_START = func.coalesce(OrderRecord.scheduled_start, OrderRecord.ordered_at)
_OPEN_ORDER = and_(
    OrderRecord.exam_completed_at.is_(None),
    OrderRecord.cancelled_at.is_(None),
    OrderRecord.discontinued_at.is_(None),
)
Index(
    "ix_orders_worklist_start",
    func.coalesce(
        OrderRecord.exam_completed_at, OrderRecord.cancelled_at, OrderRecord.discontinued_at
    ),
    _WORKLIST_START,
    sqlite_where=_OPEN_ORDER,
    postgresql_where=_OPEN_ORDER,
)
Index(
    "ix_orders_worklist_modality",
    OrderRecord.modality,
    _WORKLIST_START,
    sqlite_where=_OPEN_ORDER,
    postgresql_where=_OPEN_ORDER,
)


class TimelineRecord(Base):
    """Append-only: each milestone an order reached, when, and the message that proved it."""

    __tablename__ = "order_timeline"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    milestone: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Indexed: pruning the message log clears these references set-wise (0010).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReportRecord(Base):
    """Every report issued for an order: preliminary, final and corrected versions alike."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    radiologist_id: Mapped[str] = mapped_column(String(64), default="")
    radiologist_name: Mapped[str] = mapped_column(String(255), default="")
    result_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Indexed: pruning the message log clears these references set-wise (0010).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ArrivalRecord(Base):
    """ADT^A10 arrivals, kept so that an order placed after its patient arrived still gets
    its `arrived` milestone (arrival order is not trusted)."""

    __tablename__ = "patient_arrivals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Indexed: pruning the message log clears these references set-wise (0010).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
