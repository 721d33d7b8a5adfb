"""Patients and their visits: who the messages are about (HL7 PID, PV1, MRG)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


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
