"""Worklist answers encoded straight to the wire are byte for byte what pydicom writes."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from fixtures.dicom import worklist_item, worklist_query
from mappers.dicom.worklist import worklist_response
from mappers.dicom.worklist_encoding import (
    encode_worklist_identifier,
    encode_worklist_response,
    plan_worklist_answer,
)
from mappers.dicom.worklist_model import WorklistItem

# Some keys here hold values invalid for their VR on purpose; pydicom warns as they are set.
# A reason longer than LO allows is kept as it is, and pydicom says so.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning"),
    pytest.mark.filterwarnings("ignore:The value length:UserWarning"),
    pytest.mark.filterwarnings("ignore:The value for the data element:UserWarning"),
]

BERLIN = ZoneInfo("Europe/Berlin")
# (implicit VR, little endian): Implicit and Explicit VR Little Endian, Explicit Big Endian.
SYNTAXES = [(True, True), (False, True), (False, False)]


def _with_private(query: Dataset) -> Dataset:
    query.add_new(0x00091010, "LO", "private value")
    query.add_new(0x00091011, "UN", b"")
    return query


QUERIES: dict[str, Dataset] = {
    "the usual keys": worklist_query(),
    "a modality's morning query": worklist_query(
        ScheduledStationAETitle="CT01", ScheduledProcedureStepStartDate="20260302"
    ),
    "whole step asked by an empty sequence": worklist_query(ScheduledProcedureStepSequence=[]),
    "no step sequence": worklist_query(ScheduledProcedureStepSequence=None),
    "keys the gateway does not know": _with_private(
        worklist_query(
            AdmissionID="A1",
            PatientWeight="70",
            OtherPatientIDsSequence=[],
            ScheduledProtocolCodeSequence=[],
            ScheduledStationName="",
            ScheduledProcedureStepEndDate="",
            ScheduledProcedureStepStatus="",
        )
    ),
    "character set and offset asked": worklist_query(
        SpecificCharacterSet="ISO_IR 100",
        TimezoneOffsetFromUTC="",
        ReasonForTheRequestedProcedure="",
    ),
    "only a patient key": worklist_query(
        **{keyword: None for keyword in ("AccessionNumber", "ReferringPhysicianName")}
    ),
}

ITEMS: dict[str, WorklistItem] = {
    "plain": worklist_item(),
    "odd lengths": worklist_item(
        accession="ACC1", patient_id="M1", study_instance_uid="1.2.3", modality="MR"
    ),
    "non-ASCII names and text": worklist_item(
        patient_family="MÜLLER", patient_given="JÖRG", patient_middle="", procedure_text="Röntgen"
    ),
    "non-ASCII only in a referrer": worklist_item(referring_physician_family="Ñuñez"),
    "no code, birth date or duration": worklist_item(
        procedure_code="", birth_date=None, scheduled_duration_minutes=None
    ),
    "no scheme, no given name": worklist_item(
        procedure_system="", patient_given="", patient_middle=""
    ),
    "backslashes": worklist_item(procedure_text="A\\B", patient_family="O\\NEIL"),
    "summer time, past midnight": worklist_item(
        scheduled_start=datetime(2026, 7, 1, 22, 15, tzinfo=UTC)
    ),
    "non-ASCII station (no character set for AE)": worklist_item(scheduled_station="CTÄ"),
    "long reason": worklist_item(reason="R" * 70_001),
}


@pytest.mark.parametrize(("implicit_vr", "little_endian"), SYNTAXES)
@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES)
@pytest.mark.parametrize("item", ITEMS.values(), ids=ITEMS)
def test_encoded_answer_is_what_pydicom_writes(
    item: WorklistItem, query: Dataset, implicit_vr: bool, little_endian: bool
) -> None:
    """Every query shape, item and transfer syntax: the same bytes as worklist_response's."""
    reference = encode(
        worklist_response(item, query, facility_tz=BERLIN), implicit_vr, little_endian
    )
    plan = plan_worklist_answer(query)
    answer = encode_worklist_response(
        item, plan, facility_tz=BERLIN, implicit_vr=implicit_vr, little_endian=little_endian
    )
    assert reference is not None
    assert encode(answer, implicit_vr, little_endian) == reference
    identifier = encode_worklist_identifier(
        item, plan, facility_tz=BERLIN, implicit_vr=implicit_vr, little_endian=little_endian
    )
    assert identifier is None or identifier == reference


@pytest.mark.parametrize(("implicit_vr", "little_endian"), SYNTAXES)
def test_plain_answers_are_raw_elements(implicit_vr: bool, little_endian: bool) -> None:
    """The usual answer is made of raw elements in the transfer syntax, which decode right."""
    plan = plan_worklist_answer(worklist_query())
    answer = encode_worklist_response(
        worklist_item(),
        plan,
        facility_tz=BERLIN,
        implicit_vr=implicit_vr,
        little_endian=little_endian,
    )
    assert plan.exact
    tags = list(answer.keys())  # iterating the dataset itself would decode its elements
    assert tags and all(answer.get_item(tag).is_raw for tag in tags)
    assert answer.original_encoding == (implicit_vr, little_endian)
    decoded = decode(
        BytesIO(encode(answer, implicit_vr, little_endian)), implicit_vr, little_endian
    )
    assert decoded.PatientName == "DOE^JANE^Q"
    assert decoded.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "093000"


def test_non_ascii_answer_names_utf8() -> None:
    """A non-ASCII value answered brings ISO_IR 192 with it, as worklist_response does."""
    plan = plan_worklist_answer(worklist_query())
    item = ITEMS["non-ASCII names and text"]
    answer = encode_worklist_response(
        item, plan, facility_tz=BERLIN, implicit_vr=True, little_endian=True
    )
    assert answer.SpecificCharacterSet == "ISO_IR 192"
    assert "MÜLLER^JÖRG".encode() in encode(answer, True, True)


def test_an_ambiguous_vr_asked_is_answered_by_worklist_response() -> None:
    """A key whose VR the query leaves ambiguous is not encoded here; the answer is the same."""
    query = worklist_query()
    query.add_new(0x00280106, "US or SS", None)  # Smallest Image Pixel Value
    plan = plan_worklist_answer(query)
    answer = encode_worklist_response(
        worklist_item(), plan, facility_tz=BERLIN, implicit_vr=True, little_endian=True
    )
    assert not plan.exact
    reference = worklist_response(worklist_item(), query, facility_tz=BERLIN)
    assert encode(answer, True, True) == encode(reference, True, True)


@pytest.mark.parametrize(("implicit_vr", "little_endian"), SYNTAXES)
def test_the_usual_answer_is_encoded_whole(implicit_vr: bool, little_endian: bool) -> None:
    """The usual query and item are answered as bytes, decoding to worklist_response's answer."""
    query = worklist_query()
    identifier = encode_worklist_identifier(
        worklist_item(),
        plan_worklist_answer(query),
        facility_tz=BERLIN,
        implicit_vr=implicit_vr,
        little_endian=little_endian,
    )
    assert identifier is not None
    decoded = decode(BytesIO(identifier), implicit_vr, little_endian)
    assert decoded == worklist_response(worklist_item(), query, facility_tz=BERLIN)
