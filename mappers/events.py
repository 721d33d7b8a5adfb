"""The canonical vocabulary: one frozen dataclass per fact a message proves.

Mappers produce these; `store.apply` turns them into rows. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True, slots=True)
class PatientUpserted:
    """A message carried the patient's identity and demographics."""

    patient: PatientId
    name: PersonName
    birth_date: date | None
    sex: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """A new imaging order (ORC-1 NW): its identity, what is asked, for whom and when."""

    accession: str
    patient: PatientId
    placer_number: str
    filler_number: str
    procedure: CodedValue
    modality: str
    priority: str
    ordering_provider: Provider
    reason: str
    ordered_at: datetime


Event = PatientUpserted | OrderPlaced
