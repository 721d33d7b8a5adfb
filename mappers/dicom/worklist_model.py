"""What a Modality Worklist query asks, and what one worklist entry holds (store-neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mappers.dicom.worklist_matching import WorklistMatcher


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """What the store may narrow a worklist query's candidates by, and the matcher that decides.

    Empty strings and None narrow nothing. Each field is never narrower than the standard's
    rule: `patient_name` is a LIKE prefix (`\\` escapes) of the stored FAMILY^GIVEN[^MIDDLE];
    `station_ae_title` is one of the item's stations; `start_from`/`start_to` bound the
    scheduled start (UTC, inclusive), either may be open. `matcher` (PS3.4 C.2.2.2 in full,
    `worklist_matching`) decides each candidate; None takes every candidate.
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
    matcher: WorklistMatcher | None = field(default=None, compare=False)


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
    scheduled_station: str  # Scheduled Station AE Titles, several separated by "\\" (VM 1-n)
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
    scheduled_station_name: str = ""
    scheduled_step_id: str = ""  # "" answers the Requested Procedure ID in its place
