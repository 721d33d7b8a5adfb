"""What the modalities and the PACS sent: studies, series, instances, procedure steps, CT
dose reports, and what the PACS reconciler found."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema.base import Base, Id, UtcDateTime


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


# The event_uid of a report's study total, beside the rows of its irradiation events.
TOTAL = ""


class DoseEventRecord(Base):
    """Append-only: the dose a CT dose report gives, one row per irradiation event and one
    for the study's total (`event_uid` empty: the largest CTDIvol and the total DLP).

    Linked to its order through its study (`studies.order_id`, or the accession), so a
    report that arrives before its order links when the order does, as its images do.
    """

    __tablename__ = "dose_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64))  # the dose report's
    event_uid: Mapped[str] = mapped_column(String(64))
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    accession: Mapped[str] = mapped_column(String(64), default="", index=True)
    device: Mapped[str] = mapped_column(String(16), default="")  # the sender's AE title
    study_description: Mapped[str] = mapped_column(String(255), default="")
    protocol: Mapped[str] = mapped_column(String(255), default="")  # the acquisition's
    ctdivol: Mapped[float | None] = mapped_column(Float)  # mGy
    dlp: Mapped[float | None] = mapped_column(Float)  # mGy.cm
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        # A report sent again with other content adds nothing: its first rows stand.
        UniqueConstraint("sop_instance_uid", "event_uid"),
        # The dose figures read a window of study totals by their arrival.
        Index(None, "event_uid", "received_at"),
    )
