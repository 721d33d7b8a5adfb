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
from datetime import UTC, datetime
from typing import Any

from mappers.fhir.audit_event import AuditRow, to_fhir_audit_event
from mappers.fhir.codes import (
    IMAGING_CATEGORY,
    RADIOLOGY_CATEGORY,
    modality_coding,
    procedure_code,
    report_code,
)
from mappers.fhir.rows import (
    DeviceRow,
    OrderRow,
    PatientRow,
    ReportRow,
    ResourceRow,
    SeriesRow,
    StepRow,
    StudyRow,
)
from mappers.fhir.vocabulary import (
    ACCESSION,
    AE_TITLE,
    DICOM_UID,
    FILLER,
    IDENTIFIER_TYPES,
    OID_PREFIX,
    ORDER_STATUSES,
    PATIENT_ID,
    PLACER,
    REPORT_STATUSES,
    STEP_STATUSES,
    UNKNOWN_PATIENT,
    IdentifierKind,
    Resource,
    patient_system,
    study_status,
)

_PRIORITIES = {"S": "stat", "STAT": "stat", "A": "asap", "ASAP": "asap"}
_GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "N": "other", "U": "unknown"}


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
        "category": [IMAGING_CATEGORY],
    }
    if row.priority:
        resource["priority"] = _PRIORITIES.get(row.priority.upper(), "routine")
    code = procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
    if code:
        resource["code"] = code
    if row.modality:
        resource["orderDetail"] = [{"coding": [modality_coding(row.modality)]}]
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
        resource["modality"] = [modality_coding(m) for m in modalities]
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
        "category": [RADIOLOGY_CATEGORY],
        "code": report_code(row),
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
        resource["type"] = {"coding": [modality_coding(row.modality)]}
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
    code = procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
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


def _series(row: SeriesRow, device_id: int | None) -> Resource:
    series: Resource = {
        "uid": row.series_instance_uid,
        # A series' modality is required; OT (other) when the images named none.
        "modality": modality_coding(row.modality or "OT"),
        "numberOfInstances": row.instance_count,
    }
    if row.body_part:
        series["bodySite"] = {"display": row.body_part}
    if device_id is not None:
        series["performer"] = [{"actor": _reference("Device", device_id)}]
    return series
