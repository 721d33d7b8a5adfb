"""What the modalities and the PACS say: instances stored, procedure steps (MPPS), dose,
and the links an operator makes for what matched no order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from mappers.events.patients import PatientId


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
