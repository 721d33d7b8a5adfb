"""Store rows to FHIR R4 resources, as plain dicts ready for orjson (no clock, no database).

Ids are row ids (`ServiceRequest/123`): an accession number may hold characters a FHIR id may
not ([A-Za-z0-9-.]{1,64}), and a row id never changes. What a client keeps is an identifier,
and every resource has them; their systems (and type, HL7 table v2-0203, as IHE uses it):

- Patient: `urn:imaging-gateway:authority:<assigning authority, percent-encoded>` (MR); no
  system when the authority is empty.
- ServiceRequest: the accession `urn:imaging-gateway:accession` (ACSN), the placer number
  `urn:imaging-gateway:placer-order-number` (PLAC), the filler number
  `urn:imaging-gateway:filler-order-number` (FILL).
- ImagingStudy: `urn:dicom:uid` with value `urn:oid:<Study Instance UID>`, and the study's
  accession (ACSN).
- DiagnosticReport: the order's accession (ACSN).
- Procedure: `urn:dicom:uid` with value `urn:oid:<MPPS SOP Instance UID>`, and the step's
  accession (ACSN).
- Device: the AE title, `urn:imaging-gateway:ae-title`.

Status mappings: orders `cancelled`/`discontinued` -> ServiceRequest `revoked`, `final_report`
-> `completed`, every other milestone -> `active`; reports preliminary/final/corrected keep
their names (`corrected` is a kind of `amended` in the value set); MPPS IN PROGRESS /
COMPLETED / DISCONTINUED -> Procedure `in-progress` / `completed` / `stopped`; a study with
instances is `available`, else `registered`. Priority S/STAT -> `stat`, A/ASAP -> `asap`, any
other code `routine`, none left out.

A merged patient (ADT^A40) reads as `active: false` with a `replaced-by` link to the survivor;
an order's patient is always the survivor. A study's patient is its order's, else the patient
whose identifier and authority the images carry (following a merge); a study whose patient the
gateway does not know names it by identifier only. The report text is `presentedForm`
(text/plain, UTF-8, base64); `conclusion` is left out, the impression not being told apart.
MPPS dose values are not shown.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

from mappers.fhir.audit_event import AuditRow, to_fhir_audit_event

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
_PRIORITIES = {"S": "stat", "STAT": "stat", "A": "asap", "ASAP": "asap"}
_GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "N": "other", "U": "unknown"}

# HL7 coding system names (table 0396) -> FHIR code system URIs; others become local URNs.
_CPT, _LOINC, _SNOMED = (
    "http://www.ama-assn.org/go/cpt",
    "http://loinc.org",
    "http://snomed.info/sct",
)
_CODE_SYSTEMS = {
    "C4": _CPT,
    "CPT": _CPT,
    "CPT4": _CPT,
    "LN": _LOINC,
    "LOINC": _LOINC,
    "SCT": _SNOMED,
    "SNM": _SNOMED,
    "SNOMED": _SNOMED,
    "RADLEX": "http://radlex.org",
}
_IMAGING_CATEGORY = {"coding": [{"system": _SNOMED, "code": "363679005", "display": "Imaging"}]}
_RADIOLOGY_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "RAD",
            "display": "Radiology",
        }
    ]
}
_IMAGING_REPORT_CODE = {"system": _LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}


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


def to_fhir_patient(row: PatientRow) -> Resource:
    """A Patient; a merged one is inactive and links to its survivor."""
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "identifier": [_patient_identifier(row.identifier, row.authority)],
        "active": row.merged_into_id is None,
    }
    name = _human_name(row)
    if name:
        resource["name"] = [name]
    gender = _GENDERS.get(row.sex)
    if gender:
        resource["gender"] = gender
    if row.birth_date is not None:
        resource["birthDate"] = row.birth_date.isoformat()
    if row.merged_into_id is not None:
        resource["link"] = [
            {"other": _reference("Patient", row.merged_into_id), "type": "replaced-by"}
        ]
    return resource


def to_fhir_service_request(row: OrderRow) -> Resource:
    """A ServiceRequest for an order."""
    identifiers = [_identifier(ACCESSION, row.accession)]
    if row.placer_number:
        identifiers.append(_identifier(PLACER, row.placer_number))
    if row.filler_number:
        identifiers.append(_identifier(FILLER, row.filler_number))
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "identifier": identifiers,
        "status": ORDER_STATUSES.get(row.status, "unknown"),
        "intent": "order",
        "category": [_IMAGING_CATEGORY],
    }
    if row.priority:
        resource["priority"] = _PRIORITIES.get(row.priority.upper(), "routine")
    code = _procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
    if code:
        resource["code"] = code
    if row.modality:
        resource["orderDetail"] = [{"coding": [_modality(row.modality)]}]
    resource["subject"] = _subject(row.patient_id)
    if row.scheduled_start is not None:
        resource["occurrenceDateTime"] = _instant(row.scheduled_start)
    if row.ordered_at is not None:
        resource["authoredOn"] = _instant(row.ordered_at)
    requester = _person(row.ordering_provider_id, row.ordering_provider_name)
    if requester:
        resource["requester"] = requester
    if row.reason:
        resource["reasonCode"] = [{"text": row.reason}]
    return resource


def to_fhir_imaging_study(row: StudyRow) -> Resource:
    """An ImagingStudy with its series and instance counts (no endpoint)."""
    identifiers = [_identifier(DICOM_UID, OID_PREFIX + row.study_instance_uid)]
    if row.accession:
        identifiers.append(_identifier(ACCESSION, row.accession))
    resource: Resource = {
        "resourceType": "ImagingStudy",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "identifier": identifiers,
        "status": study_status(row.instance_count),
    }
    modalities = list(dict.fromkeys(s.modality for s in row.series if s.modality))
    if modalities:
        resource["modality"] = [_modality(m) for m in modalities]
    resource["subject"] = _study_subject(row)
    if row.order_id is not None:
        resource["basedOn"] = [_reference("ServiceRequest", row.order_id)]
    if row.study_started_at is not None:
        resource["started"] = _instant(row.study_started_at)
    resource["numberOfSeries"] = len(row.series)
    resource["numberOfInstances"] = row.instance_count
    if row.description:
        resource["description"] = row.description
    if row.series:
        resource["series"] = [_series(s, row.device_id) for s in row.series]
    return resource


def to_fhir_diagnostic_report(row: ReportRow) -> Resource:
    """A DiagnosticReport for one issued report (preliminary, final or corrected)."""
    resource: Resource = {
        "resourceType": "DiagnosticReport",
        "id": str(row.id),
        "meta": _meta(row.recorded_at),
        "identifier": [_identifier(ACCESSION, row.accession)],
        "basedOn": [_reference("ServiceRequest", row.order_id)],
        "status": REPORT_STATUSES.get(row.status, "unknown"),
        "category": [_RADIOLOGY_CATEGORY],
        "code": _report_code(row),
    }
    if row.patient_id is not None:
        resource["subject"] = _reference("Patient", row.patient_id)
    resource["effectiveDateTime"] = _instant(row.result_at)
    resource["issued"] = _instant(row.result_at)
    interpreter = _person(row.radiologist_id, row.radiologist_name)
    if interpreter:
        resource["resultsInterpreter"] = [interpreter]
    if row.text:
        resource["presentedForm"] = [
            {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(row.text.encode("utf-8")).decode("ascii"),
            }
        ]
    return resource


def to_fhir_device(row: DeviceRow) -> Resource:
    """A Device for a modality or other DICOM peer."""
    resource: Resource = {
        "resourceType": "Device",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "identifier": [_identifier(AE_TITLE, row.ae_title)],
        "status": "active",
    }
    if row.manufacturer:
        resource["manufacturer"] = row.manufacturer
    if row.serial_number:
        resource["serialNumber"] = row.serial_number
    names = [
        {"name": value, "type": kind}
        for value, kind in (
            (row.name, "user-friendly-name"),
            (row.station_name, "other"),
            (row.model, "model-name"),
        )
        if value
    ]
    if names:
        resource["deviceName"] = names
    if row.model:
        resource["modelNumber"] = row.model
    if row.modality:
        resource["type"] = {"coding": [_modality(row.modality)]}
    if row.location:
        resource["location"] = {"display": row.location}
    if row.state in _DEVICE_STATE_REASONS:
        resource["statusReason"] = [{"coding": [_DEVICE_STATE_REASONS[row.state]]}]
    return resource


# What the C-ECHO prober saw, as R4's device-status-reason codes.
_DEVICE_STATE_REASONS = {
    state: {
        "system": "http://terminology.hl7.org/CodeSystem/device-status-reason",
        "code": code,
        "display": code.capitalize(),
    }
    for state, code in (("up", "online"), ("down", "offline"))
}


def to_fhir_procedure(row: StepRow) -> Resource:
    """A Procedure for a performed procedure step (MPPS)."""
    identifiers = [_identifier(DICOM_UID, OID_PREFIX + row.sop_instance_uid)]
    if row.accession:
        identifiers.append(_identifier(ACCESSION, row.accession))
    resource: Resource = {
        "resourceType": "Procedure",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "identifier": identifiers,
    }
    if row.order_id is not None:
        resource["basedOn"] = [_reference("ServiceRequest", row.order_id)]
    resource["status"] = STEP_STATUSES.get(row.status, "unknown")
    code = _procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
    if code:
        resource["code"] = code
    resource["subject"] = _subject(row.patient_id)
    period = {}
    if row.started_at is not None:
        period["start"] = _instant(row.started_at)
    if row.ended_at is not None:
        period["end"] = _instant(row.ended_at)
    if period:
        resource["performedPeriod"] = period
    if row.device_id is not None:
        resource["performer"] = [{"actor": _reference("Device", row.device_id)}]
    return resource


_BUILDERS: dict[type, Any] = {
    PatientRow: to_fhir_patient,
    OrderRow: to_fhir_service_request,
    StudyRow: to_fhir_imaging_study,
    ReportRow: to_fhir_diagnostic_report,
    DeviceRow: to_fhir_device,
    StepRow: to_fhir_procedure,
    AuditRow: to_fhir_audit_event,
}


def to_fhir_resource(row: ResourceRow) -> Resource:
    """The resource for any row the FHIR store queries return."""
    return _BUILDERS[type(row)](row)


def to_fhir_searchset(
    base_url: str,
    links: Sequence[tuple[str, str]],
    total: int,
    matches: Sequence[Resource],
    included: Sequence[Resource] = (),
) -> Resource:
    """A searchset Bundle: `links` as (relation, url), then matches and included resources."""
    bundle: Resource = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links],
    }
    entries = [_entry(base_url, resource, "match") for resource in matches]
    entries += [_entry(base_url, resource, "include") for resource in included]
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base_url: str, resource: Resource, mode: str) -> Resource:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _instant(moment: datetime) -> str:
    """An aware time as a FHIR instant in UTC (`Z`), as fhir.resources writes it too."""
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


def _meta(updated_at: datetime) -> Resource:
    return {"lastUpdated": _instant(updated_at)}


def _reference(resource_type: str, row_id: int) -> Resource:
    return {"reference": f"{resource_type}/{row_id}"}


def _subject(patient_id: int | None) -> Resource:
    """A required patient reference; named only by a display when the patient is unknown."""
    if patient_id is None:
        return {"display": UNKNOWN_PATIENT}
    return _reference("Patient", patient_id)


def _study_subject(row: StudyRow) -> Resource:
    """The study's patient; by the identifier its images carry when no patient row matches."""
    if row.patient_id is not None:
        return _reference("Patient", row.patient_id)
    if row.patient_identifier:
        return {"identifier": _patient_identifier(row.patient_identifier, row.patient_authority)}
    return {"display": UNKNOWN_PATIENT}


def _identifier(kind: IdentifierKind, value: str) -> Resource:
    identifier: Resource = {}
    if kind.type_code:
        identifier["type"] = {"coding": [{"system": IDENTIFIER_TYPES, "code": kind.type_code}]}
    identifier["system"] = kind.system
    identifier["value"] = value
    return identifier


def _patient_identifier(value: str, authority: str) -> Resource:
    identifier: Resource = {
        "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": PATIENT_ID.type_code}]}
    }
    system = patient_system(authority)
    if system is not None:
        identifier["system"] = system
    identifier["value"] = value
    return identifier


def _human_name(row: PatientRow) -> Resource:
    name: Resource = {}
    if row.family_name:
        name["family"] = row.family_name
    given = [part for part in (row.given_name, row.middle_name) if part]
    if given:
        name["given"] = given
    if row.name_prefix:
        name["prefix"] = [row.name_prefix]
    if row.name_suffix:
        name["suffix"] = [row.name_suffix]
    return name


def _person(identifier: str, name: str) -> Resource:
    """A reference to a person known only by id and name (no Practitioner resource)."""
    reference: Resource = {}
    if identifier:
        reference["identifier"] = {"value": identifier}
    if name:
        reference["display"] = name
    return reference


def _code_system(name: str) -> str:
    local = "urn:imaging-gateway:code-system:" + quote(name, safe="")
    return _CODE_SYSTEMS.get(name.upper(), local)


def _procedure_code(code: str, text: str, system: str) -> Resource:
    concept: Resource = {}
    if code:
        coding: Resource = {}
        if system:
            coding["system"] = _code_system(system)
        coding["code"] = code
        if text:
            coding["display"] = text
        concept["coding"] = [coding]
    if text:
        concept["text"] = text
    return concept


def _report_code(row: ReportRow) -> Resource:
    """LOINC 18748-4 (diagnostic imaging study), and the order's procedure code."""
    procedure = _procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
    return {
        **procedure,
        "coding": [dict(_IMAGING_REPORT_CODE), *procedure.get("coding", ())],
    }


def _modality(code: str) -> Resource:
    return {"system": DICOM_VOCABULARY, "code": code}


def _series(row: SeriesRow, device_id: int | None) -> Resource:
    series: Resource = {
        "uid": row.series_instance_uid,
        # A series' modality is required; OT (other) when the images named none.
        "modality": _modality(row.modality or "OT"),
        "numberOfInstances": row.instance_count,
    }
    if row.body_part:
        series["bodySite"] = {"display": row.body_part}
    if device_id is not None:
        series["performer"] = [{"actor": _reference("Device", device_id)}]
    return series
