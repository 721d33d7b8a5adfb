"""Composite HL7 data types (CX, XPN, XCN, CE/CWE) read from a segment into event values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mappers.errors import Location
from mappers.events import CodedValue, PatientClass, PatientId, PersonName, Provider, Visit
from mappers.hl7v2.er7 import Field, Segment


def read_cx(field: Field) -> PatientId:
    """CX: ID number (.1) qualified by its assigning authority (.4.1)."""
    return PatientId(value=field.value(1).strip(), authority=field.value(4, 1).strip())


def read_patient_id(pid: Segment) -> PatientId | None:
    """The patient's identifier from PID-3: the medical record number (type MR) if one is
    listed, else the first identifier; PID-2 (external id, v2.3) when PID-3 is empty."""
    candidates = [rep for rep in pid.repetitions(3) if rep.value(1).strip()]
    for rep in candidates:
        if rep.value(5).strip().upper() == "MR":
            return read_cx(rep)
    if candidates:
        return read_cx(candidates[0])
    external = pid.field(2)
    return read_cx(external) if external.value(1).strip() else None


def read_xpn(field: Field) -> PersonName:
    """XPN: family (.1.1) ^ given (.2) ^ middle (.3) ^ suffix (.4) ^ prefix (.5)."""
    return PersonName(
        family=field.value(1, 1).strip(),
        given=field.value(2).strip(),
        middle=field.value(3).strip(),
        suffix=field.value(4).strip(),
        prefix=field.value(5).strip(),
    )


def read_xcn(field: Field) -> Provider:
    """XCN: id (.1) ^ family (.2.1) ^ given (.3) ^ middle (.4) ^ suffix (.5) ^ prefix (.6)."""
    return Provider(
        id=field.value(1).strip(),
        name=PersonName(
            family=field.value(2, 1).strip(),
            given=field.value(3).strip(),
            middle=field.value(4).strip(),
            suffix=field.value(5).strip(),
            prefix=field.value(6).strip(),
        ),
    )


def read_ce(field: Field) -> CodedValue:
    """CE/CWE: identifier (.1) ^ text (.2) ^ coding system (.3)."""
    return CodedValue(
        code=field.value(1).strip(), text=field.value(2).strip(), system=field.value(3).strip()
    )


# PV1-2 patient class (HL7 table 0004) as the flow figures group patients.
_PATIENT_CLASSES = {
    "E": PatientClass.EMERGENCY,
    "I": PatientClass.INPATIENT,
    "O": PatientClass.OUTPATIENT,
}


def read_visit(pv1: Segment | None) -> Visit | None:
    """PV1: patient class (.2), assigned location (.3 as point^room^bed^facility), visit (.19)."""
    if pv1 is None:
        return None
    code = pv1.value(2).strip().upper()
    patient_class = _PATIENT_CLASSES.get(code, PatientClass.OTHER if code else PatientClass.UNKNOWN)
    location = "^".join(pv1.value(3, n).strip() for n in (1, 2, 3)).rstrip("^")
    return Visit(patient_class=patient_class, location=location, visit_number=pv1.value(19).strip())


def first_value(segments: Mapping[str, Segment | None], locations: Iterable[str]) -> str:
    """The first non-blank value among `locations` (`OBR-18`, `IPC-1.1`) in the given segments.

    `segments` maps a segment name to the segment of this group; absent names are skipped.
    """
    for location in locations:
        where = Location.parse(location)
        segment = segments.get(where.segment)
        if segment is None or where.field is None:
            continue
        value = segment.value(where.field, where.component or 1, where.subcomponent or 1).strip()
        if value:
            return value
    return ""
