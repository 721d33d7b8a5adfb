"""What each FHIR resource type can be searched, sorted and included by: one table.

The parser (`mappers.fhir.search`) refuses anything the table does not name, and the
CapabilityStatement (`mappers.fhir.capability`) lists exactly it, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from mappers.fhir.vocabulary import (
    ORDER_STATUSES,
    REPORT_STATUSES,
    STEP_STATUSES,
    STUDY_STATUSES,
    ResourceType,
)

DEFAULT_COUNT = 20
MAX_COUNT = 200


class Field(StrEnum):
    """What a search parameter narrows on; the store maps each to its columns."""

    ID = "id"
    IDENTIFIER = "identifier"
    PATIENT = "patient"
    STATUS = "status"
    DATE = "date"
    MODALITY = "modality"
    LAST_UPDATED = "last-updated"


@dataclass(frozen=True, slots=True)
class SearchParameter:
    """One search parameter of a resource type."""

    name: str
    type: str  # FHIR search parameter type: token, reference or date
    field: Field
    documentation: str
    definition: str = ""  # the canonical SearchParameter when it is a standard one


@dataclass(frozen=True, slots=True)
class ResourceSearch:
    """What a resource type can be searched, sorted and included by."""

    parameters: tuple[SearchParameter, ...]
    include: str = ""  # the _include value for the patient; "" when there is none
    # FHIR status code -> the stored status values it matches (none: matches nothing)
    statuses: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sorts(self) -> tuple[str, ...]:
        """The `_sort` values this type takes."""
        dated = any(p.field is Field.DATE for p in self.parameters)
        return (("date", "-date") if dated else ()) + ("_lastUpdated", "-_lastUpdated")


def _statuses(value_set: Iterable[str], stored: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Every code of a FHIR value set -> the stored values that map to it."""
    return {
        code: tuple(value for value, mapped in stored.items() if mapped == code)
        for code in value_set
    }


_SP = "http://hl7.org/fhir/SearchParameter/"
_ID = SearchParameter("_id", "token", Field.ID, "The logical id (the row id)", _SP + "Resource-id")
_LAST_UPDATED = SearchParameter(
    "_lastUpdated",
    "date",
    Field.LAST_UPDATED,
    "When the resource last changed (meta.lastUpdated)",
    _SP + "Resource-lastUpdated",
)


def _identifier(type_name: str) -> SearchParameter:
    standard = "clinical" if type_name not in ("Patient", "Device") else type_name
    return SearchParameter(
        "identifier",
        "token",
        Field.IDENTIFIER,
        "An identifier: system|value, |value or value; :of-type as IHE uses it",
        _SP + f"{standard}-identifier",
    )


def _patient(type_name: str) -> tuple[SearchParameter, ...]:
    about = "The patient: Patient/id or id (a merged patient's id finds its survivor's)"
    return (
        SearchParameter("patient", "reference", Field.PATIENT, about, _SP + "clinical-patient"),
        SearchParameter("subject", "reference", Field.PATIENT, about, _SP + f"{type_name}-subject"),
    )


def _status(type_name: str) -> SearchParameter:
    return SearchParameter(
        "status", "token", Field.STATUS, f"{type_name}.status", _SP + f"{type_name}-status"
    )


def _date(name: str, documentation: str, definition: str = "") -> SearchParameter:
    return SearchParameter(name, "date", Field.DATE, documentation, definition)


SEARCHES: dict[ResourceType, ResourceSearch] = {
    ResourceType.PATIENT: ResourceSearch((_ID, _identifier("Patient"), _LAST_UPDATED)),
    ResourceType.SERVICE_REQUEST: ResourceSearch(
        (
            _ID,
            _identifier("ServiceRequest"),
            *_patient("ServiceRequest"),
            _status("ServiceRequest"),
            _date("authored", "When the order was placed", _SP + "ServiceRequest-authored"),
            _date("date", "When the order was placed (as authored)"),
            _LAST_UPDATED,
        ),
        include="ServiceRequest:patient",
        statuses=_statuses(
            ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"),
            ORDER_STATUSES,
        ),
    ),
    ResourceType.IMAGING_STUDY: ResourceSearch(
        (
            _ID,
            _identifier("ImagingStudy"),
            *_patient("ImagingStudy"),
            _status("ImagingStudy"),
            _date("started", "When the study started", _SP + "ImagingStudy-started"),
            _date("date", "When the study started (as started)"),
            SearchParameter(
                "modality",
                "token",
                Field.MODALITY,
                "A series' modality (DICOM code, system DCM)",
                _SP + "ImagingStudy-modality",
            ),
            _LAST_UPDATED,
        ),
        include="ImagingStudy:patient",
        statuses=_statuses(
            ("registered", "available", "cancelled", "entered-in-error", "unknown"),
            STUDY_STATUSES,
        ),
    ),
    ResourceType.DIAGNOSTIC_REPORT: ResourceSearch(
        (
            _ID,
            _identifier("DiagnosticReport"),
            *_patient("DiagnosticReport"),
            _status("DiagnosticReport"),
            _date("date", "When the report was issued (effective)", _SP + "clinical-date"),
            _LAST_UPDATED,
        ),
        include="DiagnosticReport:patient",
        statuses=_statuses(
            (
                "registered",
                "partial",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "appended",
                "cancelled",
                "entered-in-error",
                "unknown",
            ),
            REPORT_STATUSES,
        ),
    ),
    ResourceType.DEVICE: ResourceSearch((_ID, _identifier("Device"), _LAST_UPDATED)),
    ResourceType.PROCEDURE: ResourceSearch(
        (
            _ID,
            _identifier("Procedure"),
            *_patient("Procedure"),
            _status("Procedure"),
            _date("date", "When the step started (performed)", _SP + "clinical-date"),
            _LAST_UPDATED,
        ),
        include="Procedure:patient",
        statuses=_statuses(
            (
                "preparation",
                "in-progress",
                "not-done",
                "on-hold",
                "stopped",
                "completed",
                "entered-in-error",
                "unknown",
            ),
            STEP_STATUSES,
        ),
    ),
    ResourceType.AUDIT_EVENT: ResourceSearch(
        (_ID, _date("date", "When the call was recorded", _SP + "AuditEvent-date"), _LAST_UPDATED)
    ),
}
