"""Composite HL7 data types (CX, XPN, XCN, CE/CWE) read from a segment into event values."""

from __future__ import annotations

from mappers.events import CodedValue, PatientId, PersonName, Provider
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
