"""Procedure status updates to a RIS (IHE SWF RAD-13 style), and reading the RIS's ACK.

v2.3.1 destinations get ORM^O01 with ORC-1 SC and the status in ORC-5 (HL7 v2.3.1 4.5.1,
table 0038), plus ZDS with the Study Instance UID as IHE RAD-13 asks; v2.5.1 destinations get
OMI^O23 (HL7 v2.5.1 4.4.10) with an IPC segment per OBR. Pure: the control id, the message time
and every value are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mappers.errors import MappingError
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.er7 import Delimiters, escape, parse_message
from mappers.hl7v2.timestamps import format_dtm

VERSIONS = ("2.3.1", "2.5.1")
# The default ORC-5 per milestone (HL7 table 0038); a destination may map its own.
DEFAULT_STATUS_CODES = {
    "exam_started": "IP",
    "exam_completed": "CM",
    "discontinued": "DC",
    "images_available": "CM",
}
# PV1-2 from the order's patient class (HL7 table 0004).
_PATIENT_CLASS = {"emergency": "E", "inpatient": "I", "outpatient": "O"}
_D = Delimiters()


@dataclass(frozen=True, slots=True)
class StatusHeader:
    """Who sends and who receives (MSH-3 to MSH-6), and the version the receiver speaks."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    version: str  # one of VERSIONS
    processing_id: str = "P"


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """An order's new status, with the order and its patient as last received."""

    control_id: str
    sent_at: datetime  # MSH-7
    order_status: str  # ORC-5
    occurred_at: datetime  # ORC-9: when the status changed
    accession: str
    placer_number: str = ""
    filler_number: str = ""
    procedure_code: str = ""
    procedure_text: str = ""
    procedure_system: str = ""
    requested_procedure_id: str = ""
    study_instance_uid: str = ""
    modality: str = ""
    patient_identifier: str = ""
    patient_authority: str = ""
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""
    birth_date: date | None = None
    sex: str = ""
    patient_class: str = ""


@dataclass(frozen=True, slots=True)
class AckReply:
    """What an acknowledgement says: MSA-1, MSA-2 and MSA-3 (or ERR-8)."""

    code: str
    control_id: str
    text: str = ""


def build_status_update(header: StatusHeader, update: StatusUpdate) -> bytes:
    """The status message for this destination, segments separated by CR.

    Raises:
        ValueError: the header names a version other than VERSIONS.
    """
    if header.version not in VERSIONS:
        raise ValueError(f"no status message for HL7 version {header.version!r}")
    v25 = header.version == "2.5.1"
    message_type = "OMI^O23^OMI_O23" if v25 else "ORM^O01"
    msh = [
        "MSH",
        _D.encoding_characters,
        _e(header.sending_application),
        _e(header.sending_facility),
        _e(header.receiving_application),
        _e(header.receiving_facility),
        format_dtm(update.sent_at),
        "",
        message_type,
        _e(update.control_id),
        header.processing_id,
        header.version,
    ]
    segments = [_pid(update), _pv1(update), _orc(update), _obr(update)]
    if v25:
        segments.append(_ipc(update))
    elif update.study_instance_uid:
        # IHE RAD-4/RAD-13 in v2.3.1: the Study Instance UID travels in ZDS-1.
        segments.append(f"ZDS|{_e(update.study_instance_uid)}^^Application^DICOM")
    text = "\r".join(["|".join(msh), *segments]) + "\r"
    if text.isascii():
        return text.encode("ascii")
    # MSH-18 says how the rest is encoded (HL7 table 0211).
    msh += ["", "", "", "", "", "UNICODE UTF-8"]
    return ("\r".join(["|".join(msh), *segments]) + "\r").encode("utf-8")


def read_ack(payload: bytes) -> AckReply:
    """MSA-1, MSA-2 and the reason given, from an acknowledgement as received.

    Raises:
        MappingError: not an HL7 message, or it holds no MSA segment.
    """
    text, _ = decode_message(payload, "8859/1")
    message = parse_message(text)
    if message.segment("MSA") is None:
        raise MappingError("the answer holds no MSA segment", "MSA")
    reason = message.value("ERR-8") or message.value("MSA-3")
    return AckReply(message.value("MSA-1").upper(), message.value("MSA-2"), reason)


def _e(value: str) -> str:
    return escape(value, _D)


def _pid(u: StatusUpdate) -> str:
    identifier = ""
    if u.patient_identifier:
        identifier = f"{_e(u.patient_identifier)}^^^{_e(u.patient_authority)}^MR"
    name = "^".join((_e(u.family_name), _e(u.given_name), _e(u.middle_name))).rstrip("^")
    born = u.birth_date.strftime("%Y%m%d") if u.birth_date else ""
    return f"PID|1||{identifier}||{name}||{born}|{_e(u.sex)}"


def _pv1(u: StatusUpdate) -> str:
    return f"PV1|1|{_PATIENT_CLASS.get(u.patient_class, 'U')}"


def _orc(u: StatusUpdate) -> str:
    fields = ["ORC", "SC", _e(u.placer_number), _e(u.filler_number), "", u.order_status]
    fields += ["", "", "", format_dtm(u.occurred_at)]
    return "|".join(fields)


def _obr(u: StatusUpdate) -> str:
    service = "^".join((_e(u.procedure_code), _e(u.procedure_text), _e(u.procedure_system))).rstrip(
        "^"
    )
    fields = ["OBR", "1", _e(u.placer_number), _e(u.filler_number), service]
    fields += [""] * 13  # OBR-5 .. OBR-17
    fields.append(_e(u.accession))  # OBR-18: placer field 1, the accession number
    fields += [_e(u.requested_procedure_id), "", "", "", "", ""]  # OBR-19 .. OBR-23
    fields.append(_e(u.modality))  # OBR-24: diagnostic service section
    return "|".join(fields)


def _ipc(u: StatusUpdate) -> str:
    # IPC-1..4 are required: the accession stands in for an identifier the order lacks.
    requested = _e(u.requested_procedure_id or u.accession)
    return "|".join(
        [
            "IPC",
            _e(u.accession),
            requested,
            _e(u.study_instance_uid),
            requested,
            _e(u.modality),
        ]
    )
