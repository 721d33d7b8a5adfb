"""Codes and code systems the FHIR resources carry: HL7 coding system names to FHIR URIs,
the imaging categories, and the concepts built from an order's procedure code."""

from __future__ import annotations

from urllib.parse import quote

from mappers.fhir.rows import ReportRow
from mappers.fhir.vocabulary import DICOM_VOCABULARY, Resource

# HL7 coding system names (table 0396) -> FHIR code system URIs; others become local URNs.
_CPT, _LOINC, _SNOMED = (
    "http://www.ama-assn.org/go/cpt",
    "http://loinc.org",
    "http://snomed.info/sct",
)
CODE_SYSTEMS = {
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
IMAGING_CATEGORY = {"coding": [{"system": _SNOMED, "code": "363679005", "display": "Imaging"}]}
RADIOLOGY_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "RAD",
            "display": "Radiology",
        }
    ]
}
IMAGING_REPORT_CODE = {"system": _LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}


def code_system(name: str) -> str:
    local = "urn:imaging-gateway:code-system:" + quote(name, safe="")
    return CODE_SYSTEMS.get(name.upper(), local)


def procedure_code(code: str, text: str, system: str) -> Resource:
    concept: Resource = {}
    if code:
        coding: Resource = {}
        if system:
            coding["system"] = code_system(system)
        coding["code"] = code
        if text:
            coding["display"] = text
        concept["coding"] = [coding]
    if text:
        concept["text"] = text
    return concept


def report_code(row: ReportRow) -> Resource:
    """LOINC 18748-4 (diagnostic imaging study), and the order's procedure code."""
    procedure = procedure_code(row.procedure_code, row.procedure_text, row.procedure_system)
    return {
        **procedure,
        "coding": [dict(IMAGING_REPORT_CODE), *procedure.get("coding", ())],
    }


def modality_coding(code: str) -> Resource:
    return {"system": DICOM_VOCABULARY, "code": code}
