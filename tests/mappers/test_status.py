"""Procedure status messages to a RIS: ORM^O01 (v2.3.1) and OMI^O23 (v2.5.1), checked against
hl7apy's strict reading of each version, and the ACKs that answer them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message as hl7apy_parse

from mappers.errors import MappingError
from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.status import (
    AckReply,
    StatusHeader,
    StatusUpdate,
    build_status_update,
    read_ack,
)

UPDATE = StatusUpdate(
    control_id="7F3A0C11D2E44B5A9C01",
    sent_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    order_status="IP",
    occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    accession="ACC1",
    placer_number="PLC1",
    filler_number="FIL1",
    procedure_code="71250",
    procedure_text="CT CHEST W/O CONTRAST",
    procedure_system="CPT4",
    requested_procedure_id="RP1",
    study_instance_uid="1.2.826.0.1.3680043.10.1",
    modality="CT",
    patient_identifier="MRN0001",
    patient_authority="GENERAL_HOSP",
    family_name="DOE",
    given_name="JANE",
    birth_date=date(1980, 1, 1),
    sex="F",
    patient_class="emergency",
)


def _header(version: str) -> StatusHeader:
    return StatusHeader("IMAGING_GW", "RADIOLOGY", "RIS", "HOSP", version)


def _segments(message: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """hl7apy's segments with the groups they were placed in."""
    found = []
    for child in message.children:  # type: ignore[attr-defined]
        if child.classname == "Segment":
            found.append(((*path, child.name), child))
        elif child.classname == "Group":
            found += _segments(child, (*path, child.name))
    return found


def test_v231_is_orm_o01_with_orc_sc_and_the_status() -> None:
    """v2.3.1: ORM^O01, ORC-1 SC, ORC-5 the status, ORC-9 its time, OBR-18 the accession."""
    text = build_status_update(_header("2.3.1"), UPDATE).decode("ascii")
    message = parse_message(text)
    assert message.value("MSH-9") == "ORM" and message.value("MSH-9.2") == "O01"
    assert [message.value(f"MSH-{n}") for n in (3, 4, 5, 6)] == [
        "IMAGING_GW",
        "RADIOLOGY",
        "RIS",
        "HOSP",
    ]
    assert message.value("MSH-10") == UPDATE.control_id
    assert message.value("MSH-12") == "2.3.1"
    assert message.value("ORC-1") == "SC"
    assert message.value("ORC-2") == "PLC1" and message.value("ORC-3") == "FIL1"
    assert message.value("ORC-5") == "IP"
    assert message.value("ORC-9") == "20260302093000+0000"
    assert message.value("OBR-18") == "ACC1"
    assert message.value("PID-3") == "MRN0001" and message.value("PID-3.4") == "GENERAL_HOSP"
    assert message.value("PID-5") == "DOE" and message.value("PID-7") == "19800101"
    assert message.value("PV1-2") == "E"
    assert message.value("ZDS-1") == UPDATE.study_instance_uid


def test_v231_segments_are_valid_in_their_groups() -> None:
    """hl7apy places every segment in ORM_O01's groups and finds each one valid (its CHOICE
    group's validation wants every alternative at once, so segments are checked one by one)."""
    text = build_status_update(_header("2.3.1"), UPDATE).decode("ascii")
    message = hl7apy_parse(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    placed = _segments(message)
    assert [path for path, _ in placed] == [
        ("MSH",),
        ("ORM_O01_PATIENT", "PID"),
        ("ORM_O01_PATIENT", "ORM_O01_PATIENT_VISIT", "PV1"),
        ("ORM_O01_ORDER", "ORC"),
        ("ORM_O01_ORDER", "ORM_O01_ORDER_DETAIL", "ORM_O01_CHOICE", "OBR"),
    ]
    for _, segment in placed:
        segment.validate()  # type: ignore[attr-defined]


def test_v251_is_a_valid_omi_o23() -> None:
    """v2.5.1: OMI^O23^OMI_O23 with IPC, valid as a whole message under hl7apy's strict rules."""
    text = build_status_update(_header("2.5.1"), UPDATE).decode("ascii")
    message = hl7apy_parse(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate()
    ours = parse_message(text)
    assert ours.value("MSH-9.3") == "OMI_O23"
    assert [ours.value(f"IPC-{n}") for n in (1, 2, 3, 5)] == [
        "ACC1",
        "RP1",
        UPDATE.study_instance_uid,
        "CT",
    ]


@pytest.mark.parametrize("version", ["2.3.1", "2.5.1"])
def test_values_are_escaped_and_non_ascii_says_utf8(version: str) -> None:
    """A delimiter in a value is escaped; a non-ASCII name makes the message UTF-8 with MSH-18."""
    update = StatusUpdate(
        **{**_fields(UPDATE), "family_name": "MÜLLER|X", "procedure_text": "CT^HEAD"}
    )
    raw = build_status_update(_header(version), update)
    message = parse_message(raw.decode("utf-8"))
    assert message.value("PID-5") == "MÜLLER|X"
    assert message.value("OBR-4.2") == "CT^HEAD"
    assert message.value("MSH-18") == "UNICODE UTF-8"


def test_unknown_version_is_refused() -> None:
    """Only the versions a destination may name are written."""
    with pytest.raises(ValueError, match=r"2\.4"):
        build_status_update(_header("2.4"), UPDATE)


@pytest.mark.parametrize(
    ("ack", "expected"),
    [
        (b"MSH|^~\\&|RIS|H|GW|R|20260302||ACK|1|P|2.3.1\rMSA|AA|C1\r", AckReply("AA", "C1")),
        (
            b"MSH|^~\\&|RIS|H|GW|R|20260302||ACK|1|P|2.3.1\rMSA|AR|C2|unknown order\r",
            AckReply("AR", "C2", "unknown order"),
        ),
        (
            b"MSH|^~\\&|RIS|H|GW|R|20260302||ACK|1|P|2.5.1\rMSA|ce|C3\rERR||||E||||busy\r",
            AckReply("CE", "C3", "busy"),
        ),
    ],
)
def test_read_ack(ack: bytes, expected: AckReply) -> None:
    """MSA-1 (upper-cased), MSA-2 and the reason (ERR-8, else MSA-3) are read."""
    assert read_ack(ack) == expected


@pytest.mark.parametrize("ack", [b"not hl7", b"MSH|^~\\&|RIS|H|GW|R|20260302||ACK|1|P|2.3.1\r"])
def test_unreadable_ack_raises(ack: bytes) -> None:
    """An answer that is not HL7, or has no MSA, is a MappingError."""
    with pytest.raises(MappingError):
        read_ack(ack)


def _fields(update: StatusUpdate) -> dict[str, object]:
    return {name: getattr(update, name) for name in update.__slots__}
