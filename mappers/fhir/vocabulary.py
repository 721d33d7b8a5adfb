"""The FHIR facade's vocabulary: resource types, identifier systems and status mappings.

Shared by the resource builders (`mappers.fhir.resources`), the search table and the store's
search, so that what a resource shows and what a search matches are the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

Resource = dict[str, Any]

DICOM_VOCABULARY = "http://dicom.nema.org/resources/ontology/DCM"
IDENTIFIER_TYPES = "http://terminology.hl7.org/CodeSystem/v2-0203"
PATIENT_AUTHORITY_PREFIX = "urn:imaging-gateway:authority:"
DICOM_UID_SYSTEM = "urn:dicom:uid"
OID_PREFIX = "urn:oid:"
UNKNOWN_PATIENT = "patient not known to the gateway"


class ResourceType(StrEnum):
    """The resource types the FHIR facade serves."""

    PATIENT = "Patient"
    SERVICE_REQUEST = "ServiceRequest"
    IMAGING_STUDY = "ImagingStudy"
    DIAGNOSTIC_REPORT = "DiagnosticReport"
    DEVICE = "Device"
    PROCEDURE = "Procedure"
    AUDIT_EVENT = "AuditEvent"


@dataclass(frozen=True, slots=True)
class IdentifierKind:
    """One kind of identifier a resource carries: its system and v2-0203 type code."""

    name: str
    system: str  # "" for patients: the system is derived from the assigning authority
    type_code: str = ""


PATIENT_ID = IdentifierKind("patient", "", "MR")
ACCESSION = IdentifierKind("accession", "urn:imaging-gateway:accession", "ACSN")
PLACER = IdentifierKind("placer", "urn:imaging-gateway:placer-order-number", "PLAC")
FILLER = IdentifierKind("filler", "urn:imaging-gateway:filler-order-number", "FILL")
DICOM_UID = IdentifierKind("dicom-uid", DICOM_UID_SYSTEM)
AE_TITLE = IdentifierKind("ae-title", "urn:imaging-gateway:ae-title")

# The identifier kinds each resource type carries (and an identifier search looks in).
IDENTIFIER_KINDS: dict[ResourceType, tuple[IdentifierKind, ...]] = {
    ResourceType.PATIENT: (PATIENT_ID,),
    ResourceType.SERVICE_REQUEST: (ACCESSION, PLACER, FILLER),
    ResourceType.IMAGING_STUDY: (DICOM_UID, ACCESSION),
    ResourceType.DIAGNOSTIC_REPORT: (ACCESSION,),
    ResourceType.PROCEDURE: (DICOM_UID, ACCESSION),
    ResourceType.DEVICE: (AE_TITLE,),
}

# Stored status -> FHIR status, per resource type (studies: see `study_status`).
ORDER_STATUSES = {
    "ordered": "active",
    "scheduled": "active",
    "arrived": "active",
    "exam_started": "active",
    "exam_completed": "active",
    "images_available": "active",
    "preliminary_report": "active",
    "final_report": "completed",
    "cancelled": "revoked",
    "discontinued": "revoked",
}
REPORT_STATUSES = {"preliminary": "preliminary", "final": "final", "corrected": "corrected"}
STEP_STATUSES = {"IN PROGRESS": "in-progress", "COMPLETED": "completed", "DISCONTINUED": "stopped"}
STUDY_STATUSES = {"available": "available", "registered": "registered"}


def patient_system(authority: str) -> str | None:
    """The identifier system of a patient's assigning authority; None for no authority."""
    return PATIENT_AUTHORITY_PREFIX + quote(authority, safe="") if authority else None


def authority_of(system: str) -> str | None:
    """The assigning authority a patient identifier system names; None if it names none."""
    if not system.startswith(PATIENT_AUTHORITY_PREFIX) or system == PATIENT_AUTHORITY_PREFIX:
        return None
    return unquote(system.removeprefix(PATIENT_AUTHORITY_PREFIX))


def study_status(instance_count: int) -> str:
    """ImagingStudy.status: `available` once it has instances, else `registered`."""
    return "available" if instance_count > 0 else "registered"
