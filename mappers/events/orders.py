"""Orders and their lifecycle: placed, changed, scheduled, reached a milestone, reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mappers.events.patients import PatientClass, PatientId, PersonName


class Milestone(StrEnum):
    """Steps of the exam lifecycle, in order; `cancelled` and `discontinued` end it."""

    ORDERED = "ordered"
    SCHEDULED = "scheduled"
    ARRIVED = "arrived"
    EXAM_STARTED = "exam_started"
    EXAM_COMPLETED = "exam_completed"
    IMAGES_AVAILABLE = "images_available"
    PRELIMINARY_REPORT = "preliminary_report"
    FINAL_REPORT = "final_report"
    CANCELLED = "cancelled"
    DISCONTINUED = "discontinued"

    @property
    def ends_exam(self) -> bool:
        """True for the milestones that end the lifecycle without a report."""
        return self in (Milestone.CANCELLED, Milestone.DISCONTINUED)


# The order of progress; a status is the furthest milestone reached (DESIGN.md).
PROGRESS: tuple[Milestone, ...] = tuple(m for m in Milestone if not m.ends_exam)


@dataclass(frozen=True, slots=True)
class Provider:
    """A clinician as an XCN names them: an identifier and a name."""

    id: str = ""
    name: PersonName = PersonName()


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A CE/CWE code: code, text, and the coding system that gives the code its meaning."""

    code: str = ""
    text: str = ""
    system: str = ""


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """What an order asks for, as ORC/OBR/IPC/PV1 describe it."""

    placer_number: str = ""
    filler_number: str = ""
    procedure: CodedValue = CodedValue()
    requested_procedure_id: str = ""
    modality: str = ""
    priority: str = ""
    ordering_provider: Provider = Provider()
    reason: str = ""
    patient_class: PatientClass = PatientClass.UNKNOWN
    location: str = ""
    study_instance_uid: str = ""
    # Where the step is scheduled (OMI^O23 IPC-9, IPC-7): the Scheduled Station AE Titles
    # (several when it may run on any of them) and the Scheduled Station Name.
    stations: tuple[str, ...] = ()
    station_name: str = ""
    scheduled_step_id: str = ""  # IPC-4 Scheduled Procedure Step ID


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """A new imaging order (ORC-1 NW): its identity, what is asked, for whom and when."""

    accession: str
    patient: PatientId
    details: OrderDetails
    ordered_at: datetime
    # When the order arrives with its appointment (TQ1-7, OBR-27.4), the scheduled start.
    scheduled_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """ORC-1 XO: the order's details as they are now (the newest message wins)."""

    accession: str
    patient: PatientId
    details: OrderDetails
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class MilestoneReached:
    """A message proves the order reached a milestone (cancel, status change, MPPS...)."""

    accession: str
    milestone: Milestone
    occurred_at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProcedureScheduled:
    """SIU^S12/S13/S14 (or an order with a start time): the appointment as booked now."""

    accession: str
    start: datetime
    duration_minutes: int | None
    resource: str
    booked_at: datetime
    patient: PatientId | None = None


@dataclass(frozen=True, slots=True)
class AppointmentCancelled:
    """SIU^S15: the appointment is off; the order stays open unless a code says otherwise."""

    accession: str
    occurred_at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PatientNoShow:
    """SIU^S26: the patient did not come to the appointment."""

    accession: str
    occurred_at: datetime


class ReportStatus(StrEnum):
    """OBR-25 as the gateway reads it, after the site's code table."""

    PRELIMINARY = "preliminary"
    FINAL = "final"
    CORRECTED = "corrected"


@dataclass(frozen=True, slots=True)
class ReportIssued:
    """ORU^R01: a radiology report for an order, its status, text and author."""

    accession: str
    status: ReportStatus
    text: str
    radiologist: Provider
    result_at: datetime
    patient: PatientId | None = None
