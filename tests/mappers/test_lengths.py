"""Values longer than the store keeps: found anywhere in the events, refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fixtures.messages import orm_new_order
from mappers.dicom.errors import DicomMappingError
from mappers.dicom.lengths import check_lengths as check_dicom_lengths
from mappers.errors import InvalidValue
from mappers.events import CodedValue, OrderDetails, OrderPlaced, PatientId
from mappers.hl7v2.dispatch import map_message
from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.header import check_header, read_header
from mappers.hl7v2.rules import MappingRules
from mappers.limits import first_too_long

AT = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def _order(**details: str) -> OrderPlaced:
    procedure = CodedValue(code="71250", text=details.pop("text", "CT CHEST"))
    return OrderPlaced("ACC1", PatientId("MRN1"), OrderDetails(procedure=procedure, **details), AT)


def test_values_within_their_limits_pass() -> None:
    """An ordinary order has nothing too long."""
    assert first_too_long([_order()]) is None


@pytest.mark.parametrize(
    ("event", "path", "limit"),
    [
        (_order(text="X" * 256), "OrderPlaced.details.procedure.text", 255),
        (_order(modality="CTCTCTCTCTCTCTCTC"), "OrderPlaced.details.modality", 16),
        (OrderPlaced("A" * 65, PatientId("MRN1"), OrderDetails(), AT), "OrderPlaced.accession", 64),
        (
            OrderPlaced("A", PatientId("M" * 65), OrderDetails(), AT),
            "OrderPlaced.patient.value",
            64,
        ),
    ],
)
def test_the_first_value_too_long_is_found_with_its_path(
    event: object, path: str, limit: int
) -> None:
    """Nested values are reached; the path and the limit say which and how long."""
    found = first_too_long([event])
    assert found is not None and (found.path, found.limit) == (path, limit)


@pytest.mark.parametrize(
    ("options", "location"),
    [
        ({"family": "D" * 129}, "PID-5.1"),
        ({"procedure_text": "P" * 256}, "OBR-4.2"),
        ({"patient_id": "9" * 65}, "PID-3.1"),
    ],
)
def test_hl7_refusal_names_the_field_the_value_came_from(
    options: dict[str, str], location: str
) -> None:
    """Mapping the message refuses it; the ERR location is the place that held the value."""
    text = orm_new_order("ACC1", control_id="C1", **options).decode()
    with pytest.raises(InvalidValue) as refused:
        map_message(parse_message(text), read_header(text), MappingRules())
    assert str(refused.value.location) == location
    assert "longer than" in refused.value.reason


def test_a_control_id_longer_than_the_log_keeps_is_refused() -> None:
    """MSH-10 over 255 characters: refused at MSH-10 before anything is mapped."""
    text = orm_new_order("ACC1", control_id="C" * 256).decode()
    with pytest.raises(InvalidValue) as refused:
        check_header(read_header(text), ("P",))
    assert str(refused.value.location) == "MSH-10"


def test_dicom_refusal_names_the_attribute() -> None:
    """A DICOM value too long is refused with the given status, naming its attribute."""
    with pytest.raises(DicomMappingError) as refused:
        check_dicom_lengths([OrderPlaced("A" * 65, PatientId("M"), OrderDetails(), AT)], 0xA900)
    assert (refused.value.status, refused.value.tag) == (0xA900, "AccessionNumber")
