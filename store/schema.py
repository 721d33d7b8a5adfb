"""The workflow store's tables (SQLAlchemy 2 declarative, `Mapped[...]` columns).

The hot path writes through `Model.__table__` with Core statements; ORM objects never leave
`store/`. Every change here comes with an Alembic migration (`store/migrations/versions`); a
test compares the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    column,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler

# Stable constraint names, so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite makes only INTEGER PRIMARY KEY an auto-incrementing rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite keeps no offset; it is stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times are aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MillisecondsBetween(ColumnElement[int]):
    """Whole milliseconds from one time column of the row to another; NULL when either is."""

    inherit_cache = True
    type = BigInteger()

    def __init__(self, begin: str, end: str) -> None:
        self.begin = column(begin)
        self.end = column(end)


@compiles(MillisecondsBetween)
def _milliseconds_postgresql(
    element: MillisecondsBetween, compiler: SQLCompiler, **kw: object
) -> str:
    # end - begin is an exact interval of microseconds and its epoch an exact numeric, so this
    # rounds (half away from zero) as round((epoch(end) - epoch(begin)) * 1000) does, and,
    # unlike EXTRACT from a timestamptz, it is immutable, as a generated column requires.
    end, begin = compiler.process(element.end, **kw), compiler.process(element.begin, **kw)
    return f"CAST(round(EXTRACT(epoch FROM ({end} - {begin})) * 1000) AS BIGINT)"


@compiles(MillisecondsBetween, "sqlite")
def _milliseconds_sqlite(element: MillisecondsBetween, compiler: SQLCompiler, **kw: object) -> str:
    end, begin = compiler.process(element.end, **kw), compiler.process(element.begin, **kw)
    return f"CAST(round((julianday({end}) - julianday({begin})) * 86400000) AS INTEGER)"


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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


class DeviceRecord(Base):
    """A modality or other DICOM peer, by AE title: learned from traffic or registered."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    station_name: Mapped[str] = mapped_column(String(64), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    manufacturer: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    serial_number: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(128), default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int | None] = mapped_column(Integer)
    monitored: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StudyRecord(Base):
    """A study as images arrive for it; `order_id` empty while it matches no order."""

    __tablename__ = "studies"
    # FHIR ImagingStudy?patient= finds studies without an order by the images' identifier.
    __table_args__ = (Index(None, "patient_identifier", "patient_authority"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    accession: Mapped[str] = mapped_column(String(64), default="", index=True)
    patient_identifier: Mapped[str] = mapped_column(String(64), default="")
    patient_authority: Mapped[str] = mapped_column(String(64), default="")
    # The header's patient, compared with the order's (a DICOM PN value, FAMILY^GIVEN).
    patient_name: Mapped[str] = mapped_column(String(255), default="")
    patient_birth_date: Mapped[date | None] = mapped_column(Date)
    patient_sex: Mapped[str] = mapped_column(String(16), default="")
    study_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    description: Mapped[str] = mapped_column(String(255), default="")
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    first_instance_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_instance_at: Mapped[datetime] = mapped_column(UtcDateTime())
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SeriesRecord(Base):
    """A series within a study."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    body_part: Mapped[str] = mapped_column(String(64), default="")
    instance_count: Mapped[int] = mapped_column(Integer, default=0)


class InstanceRecord(Base):
    """One stored instance (metadata only; pixel data stays on disk when files are kept)."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    stored_path: Mapped[str] = mapped_column(String(1024), default="")
    # Indexed: pruning the message log clears these references set-wise (0010).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)


class ProcedureStepRecord(Base):
    """A Modality Performed Procedure Step (MPPS), linked to its order when one matches."""

    __tablename__ = "procedure_steps"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    accession: Mapped[str] = mapped_column(String(64), default="", index=True)
    requested_procedure_id: Mapped[str] = mapped_column(String(64), default="")
    study_instance_uid: Mapped[str] = mapped_column(String(64), default="", index=True)
    status: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    station_ae_title: Mapped[str] = mapped_column(String(16), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dose: Mapped[str] = mapped_column(Text, default="{}")  # JSON: name -> value
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProbeSessionRecord(Base):
    """A stretch of time the prober watched a device without a gap: what it saw is known."""

    __tablename__ = "probe_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The last probe's time plus the probe interval: the watched time ends there.
    covered_until: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceTransitionRecord(Base):
    """The prober saw a device go down or come back up, when and why (append-only)."""

    __tablename__ = "device_transitions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    state: Mapped[str] = mapped_column(String(8))  # up / down
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(255), default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DowntimeRecord(Base):
    """Downtime an operator declared: planned (excluded from the window) or unplanned."""

    __tablename__ = "downtimes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    planned: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(255), default="")
    ticket: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


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


class PacsCheckRecord(Base):
    """Each reconciliation with the PACS (append-only): the window of study dates asked, and
    what the PACS lacked and held for no order, or why it did not answer."""

    __tablename__ = "pacs_checks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    window_first: Mapped[date] = mapped_column(Date)
    window_last: Mapped[date] = mapped_column(Date)
    reachable: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str] = mapped_column(Text, default="")
    missing: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the orders it lacks
    unordered: Mapped[str] = mapped_column(Text, default="[]")  # JSON: studies for no order
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrderFigureRecord(Base):
    """A read model: one row per order per flow figure whose two ends exist (not cancelled),
    kept by the fold in the commit of the milestones behind it."""

    __tablename__ = "order_figures"

    # Derived rows: they go with their order.
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    figure: Mapped[str] = mapped_column(String(32), primary_key=True)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime())
    value_ms: Mapped[int] = mapped_column(BigInteger)
    modality: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    patient_class: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)  # the facility-local date of end_at

    __table_args__ = (
        # A window of END times per figure, grouped and ranked from the index on PostgreSQL.
        Index(
            None,
            "figure",
            "end_at",
            postgresql_include=["value_ms", "modality", "priority", "patient_class", "device"],
        ),
    )


class BoardOrderRecord(Base):
    """A read model: the board state of each open order, its start and its device."""

    __tablename__ = "board_orders"

    # Derived rows: they go with their order.
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))  # store.fold.readmodels.STORED_STATES
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    scheduled_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    modality: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index(None, "state", "since", "order_id"),)


class VolumeHourRecord(Base):
    """A read model: exams ordered, performed, reported, cancelled and not shown per
    facility-local hour (its UTC start), modality and device."""

    __tablename__ = "volume_hours"

    hour_at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    modality: Mapped[str] = mapped_column(String(16), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wall_hour: Mapped[int] = mapped_column(BigInteger)  # local hours since 1970-01-01 00:00
    ordered: Mapped[int] = mapped_column(Integer, default=0)
    performed: Mapped[int] = mapped_column(Integer, default=0)
    reported: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    no_shows: Mapped[int] = mapped_column(Integer, default=0)


messages = MessageRecord.__table__
patients = PatientRecord.__table__
orders = OrderRecord.__table__
order_timeline = TimelineRecord.__table__
reports = ReportRecord.__table__
patient_arrivals = ArrivalRecord.__table__
devices = DeviceRecord.__table__
studies = StudyRecord.__table__
series = SeriesRecord.__table__
instances = InstanceRecord.__table__
procedure_steps = ProcedureStepRecord.__table__
probe_sessions = ProbeSessionRecord.__table__
device_transitions = DeviceTransitionRecord.__table__
downtimes = DowntimeRecord.__table__
audit_events = AuditRecord.__table__
outbox = OutboxRecord.__table__
order_figures = OrderFigureRecord.__table__
board_orders = BoardOrderRecord.__table__
volume_hours = VolumeHourRecord.__table__
pacs_checks = PacsCheckRecord.__table__

# The quality desk's tables live in their own module, on this one metadata.
import store.schema_quality  # noqa: E402, F401
