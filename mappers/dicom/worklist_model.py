"""What a Modality Worklist query asks, and what one worklist entry holds (store-neutral)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """The matching keys of a C-FIND worklist identifier, as IHE Scheduled Workflow uses them.

    Empty strings and None match everything (universal matching, PS3.4 C.2.2.2.3).
    `patient_name` is a LIKE pattern already translated from DICOM wildcards (* and ?), with
    `\\` as its escape character; `start_from`/`start_to` bound the scheduled start (UTC,
    inclusive), either may be open.
    """

    station_ae_title: str = ""
    modality: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_name_case_insensitive: bool = False
    accession: str = ""
    requested_procedure_id: str = ""
    start_from: datetime | None = None
    start_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class WorklistItem:
    """One open order as the worklist answers it."""

    accession: str
    requested_procedure_id: str
    procedure_code: str
    procedure_text: str
    procedure_system: str
    study_instance_uid: str
    modality: str
    priority: str
    scheduled_start: datetime
    scheduled_station: str
    scheduled_duration_minutes: int | None
    referring_physician_family: str
    referring_physician_given: str
    patient_id: str
    patient_authority: str
    patient_family: str
    patient_given: str
    patient_middle: str
    birth_date: date | None
    sex: str
    reason: str
