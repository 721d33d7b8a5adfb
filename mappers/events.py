"""The canonical vocabulary: one frozen dataclass per fact a message proves.

Mappers produce these; the store's fold (`store.fold`) turns them into rows. Times are
timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


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
class PatientId:
    """A patient identifier qualified by the authority that assigned it (PID-3.1, PID-3.4)."""

    value: str
    authority: str = ""


@dataclass(frozen=True, slots=True)
class PersonName:
    """An XPN/XCN name, the parts HL7 carries."""

    family: str = ""
    given: str = ""
    middle: str = ""
    prefix: str = ""
    suffix: str = ""


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


class PatientClass(StrEnum):
    """Where the patient comes from, as the flow figures group them (PV1-2, HL7 table 0004)."""

    EMERGENCY = "emergency"
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"
    OTHER = "other"
    UNKNOWN = ""


@dataclass(frozen=True, slots=True)
class Visit:
    """The encounter a message names (PV1): class, location and visit number."""

    patient_class: PatientClass = PatientClass.UNKNOWN
    location: str = ""
    visit_number: str = ""


@dataclass(frozen=True, slots=True)
class PatientUpserted:
    """A message carried the patient's identity and demographics (and maybe the visit)."""

    patient: PatientId
    name: PersonName
    birth_date: date | None
    sex: str
    occurred_at: datetime
    visit: Visit | None = None


@dataclass(frozen=True, slots=True)
class PatientsMerged:
    """ADT^A40: `merged` is the same person as `survivor`; its orders move to the survivor and
    its identifier goes on resolving to it."""

    survivor: PatientId
    merged: PatientId
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PatientArrived:
    """ADT^A10 (or a site status code): the patient is in the department for their exams.

    With `accession` empty it applies to every open order of the patient.
    """

    patient: PatientId
    occurred_at: datetime
    accession: str = ""


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


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """A DICOM peer spoke to us: what it says about itself (learned into the registry)."""

    ae_title: str
    seen_at: datetime
    station_name: str = ""
    modality: str = ""
    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""


@dataclass(frozen=True, slots=True)
class InstanceStored:
    """C-STORE: one image (or other instance) indexed by study, series and instance."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    accession: str
    patient: PatientId | None
    modality: str
    body_part: str
    study_started_at: datetime | None
    study_description: str
    device_ae_title: str
    received_at: datetime
    stored_path: str = ""
    # An Instance Availability Notification's Referenced Performed Procedure Step (the MPPS
    # SOP Instance UID): the order to link to when accession and Study Instance UID name none.
    performed_step_uid: str = ""
    # The header's patient (PS3.3 C.7.1.1), kept to compare with the order's patient.
    patient_name: str = ""  # a DICOM PN value, FAMILY^GIVEN
    patient_birth_date: date | None = None
    patient_sex: str = ""


class StepStatus(StrEnum):
    """Performed Procedure Step Status (0040,0252), DICOM PS3.3 C.4.14."""

    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    """One item of the Scheduled Step Attribute Sequence: how an MPPS names its order."""

    accession: str = ""
    requested_procedure_id: str = ""
    study_instance_uid: str = ""
    scheduled_step_id: str = ""


# Dose attributes kept from MPPS, by name (e.g. "total_time_of_fluoroscopy", "ctdi_vol",
# "dlp", "entrance_dose_mgy"), as (name, value) pairs so that events stay hashable.
Dose = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ProcedureStepCreated:
    """MPPS N-CREATE: the modality started (or performed) a procedure step."""

    sop_instance_uid: str
    status: StepStatus
    steps: tuple[ScheduledStep, ...]
    patient: PatientId | None
    station_ae_title: str
    modality: str
    started_at: datetime | None
    ended_at: datetime | None
    dose: Dose
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ProcedureStepUpdated:
    """MPPS N-SET: the step's status, end and dose as the modality reports them now."""

    sop_instance_uid: str
    status: StepStatus | None
    ended_at: datetime | None
    dose: Dose
    received_at: datetime


@dataclass(frozen=True, slots=True)
class IrradiationDose:
    """One CT irradiation event of a dose report: Mean CTDIvol (mGy) and DLP (mGy.cm)."""

    event_uid: str
    protocol: str
    ctdivol: float | None
    dlp: float | None


@dataclass(frozen=True, slots=True)
class DoseReported:
    """C-STORE of a CT Radiation Dose SR (TID 10011): each irradiation event and the study's
    total (the largest CTDIvol, as reference levels compare, and the total DLP)."""

    sop_instance_uid: str
    study_instance_uid: str
    accession: str
    device_ae_title: str
    study_description: str
    max_ctdivol: float | None
    total_dlp: float | None
    events: tuple[IrradiationDose, ...]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StudyLinked:
    """An operator linked an unmatched study (by Study Instance UID) to an order."""

    study_instance_uid: str
    accession: str


@dataclass(frozen=True, slots=True)
class StepLinked:
    """An operator linked an unmatched procedure step (by SOP Instance UID) to an order."""

    sop_instance_uid: str
    accession: str


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """What an operator (or the devices file) says about a device: one model for every door
    (the API's PUT body, the devices file, the event below)."""

    host: str = ""
    port: int | None = None
    modality: str = ""
    name: str = ""
    location: str = ""
    monitored: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """An operator (or the devices file) registered a device or changed its registration."""

    ae_title: str
    registration: DeviceRegistration = DeviceRegistration()


@dataclass(frozen=True, slots=True)
class DowntimeDeclared:
    """An operator declared planned or unplanned downtime of a device."""

    ae_title: str
    starts_at: datetime
    ends_at: datetime | None
    planned: bool
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True, slots=True)
class DowntimeEnded:
    """An operator set the end of a declared downtime."""

    ae_title: str
    downtime_id: int
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceProbed:
    """The prober echoed a device at `at`; `transition` (state, since, reason) when it went
    down or came back up."""

    ae_title: str
    at: datetime
    interval: timedelta
    transition: tuple[str, datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class PacsStudyHeld:
    """A study the PACS holds, as its STUDY-level C-FIND answer describes it."""

    study_instance_uid: str
    accession: str
    patient_id: str
    study_date: str
    modalities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PacsOrderMissing:
    """An order whose study the PACS does not hold."""

    accession: str
    study_instance_uid: str
    patient_id: str


@dataclass(frozen=True, slots=True)
class PacsReconciled:
    """The reconciler asked the PACS for the studies dated `window_first` to `window_last`:
    the orders whose study it lacks and the studies it holds for no order, or, when it did
    not answer, why (`reachable` false)."""

    checked_at: datetime
    window_first: date
    window_last: date
    reachable: bool
    error: str = ""
    missing: tuple[PacsOrderMissing, ...] = ()
    unordered: tuple[PacsStudyHeld, ...] = ()


Event = (
    PatientUpserted
    | PatientsMerged
    | PatientArrived
    | OrderPlaced
    | OrderChanged
    | MilestoneReached
    | ProcedureScheduled
    | AppointmentCancelled
    | PatientNoShow
    | ReportIssued
    | DeviceSeen
    | InstanceStored
    | ProcedureStepCreated
    | ProcedureStepUpdated
    | DoseReported
    | StudyLinked
    | StepLinked
    | DeviceRegistered
    | DowntimeDeclared
    | DowntimeEnded
    | DeviceProbed
    | PacsReconciled
)
