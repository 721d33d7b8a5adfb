"""Store rows as the FHIR facade reads them: what the store hands the resource builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mappers.fhir.audit_event import AuditRow


@dataclass(frozen=True, slots=True)
class PatientRow:
    """A patient as the FHIR facade reads it."""

    id: int
    identifier: str
    authority: str
    family_name: str
    given_name: str
    middle_name: str
    name_prefix: str
    name_suffix: str
    birth_date: date | None
    sex: str
    merged_into_id: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as the FHIR facade reads it (a ServiceRequest)."""

    id: int
    accession: str
    patient_id: int | None
    placer_number: str
    filler_number: str
    procedure_code: str
    procedure_text: str
    procedure_system: str
    modality: str
    priority: str
    ordering_provider_id: str
    ordering_provider_name: str
    reason: str
    status: str
    ordered_at: datetime | None
    scheduled_start: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A report with what it needs of its order (a DiagnosticReport)."""

    id: int
    order_id: int
    accession: str
    patient_id: int | None
    status: str
    text: str
    radiologist_id: str
    radiologist_name: str
    result_at: datetime
    procedure_code: str
    procedure_text: str
    procedure_system: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """A series of a study."""

    series_instance_uid: str
    modality: str
    body_part: str
    instance_count: int


@dataclass(frozen=True, slots=True)
class StudyRow:
    """A study with its series and resolved patient (an ImagingStudy)."""

    id: int
    study_instance_uid: str
    accession: str
    order_id: int | None
    patient_id: int | None
    patient_identifier: str
    patient_authority: str
    study_started_at: datetime | None
    description: str
    device_id: int | None
    instance_count: int
    updated_at: datetime
    series: tuple[SeriesRow, ...] = ()


@dataclass(frozen=True, slots=True)
class StepRow:
    """A performed procedure step (MPPS) with what it needs of its order (a Procedure)."""

    id: int
    sop_instance_uid: str
    order_id: int | None
    accession: str
    patient_id: int | None
    status: str
    device_id: int | None
    started_at: datetime | None
    ended_at: datetime | None
    procedure_code: str
    procedure_text: str
    procedure_system: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A modality or other DICOM peer (a Device)."""

    id: int
    ae_title: str
    station_name: str
    modality: str
    manufacturer: str
    model: str
    serial_number: str
    name: str
    location: str
    updated_at: datetime
    state: str = ""  # the prober's last word: up, down, or "" when never probed


ResourceRow = PatientRow | OrderRow | ReportRow | StudyRow | StepRow | DeviceRow | AuditRow
