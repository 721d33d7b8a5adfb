"""Worklist C-FIND identifiers read to store queries, and worklist items answered key by key."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from fixtures.dicom import worklist_item, worklist_query
from mappers.dicom import worklist
from mappers.dicom.datetimes import OFFSET_TAG
from mappers.dicom.errors import CANNOT_UNDERSTAND, IDENTIFIER_DOES_NOT_MATCH, DicomMappingError
from mappers.dicom.worklist import (
    parse_worklist_query,
    priority_term,
    translate_person_name,
    worklist_response,
)
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery

# Some keys here hold values invalid for their VR on purpose; pydicom warns as they are set.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

BERLIN = ZoneInfo("Europe/Berlin")


def _parse(identifier: Dataset, *, case_insensitive: bool = False) -> WorklistQuery:
    return parse_worklist_query(
        identifier, facility_tz=BERLIN, case_insensitive_names=case_insensitive
    )


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- the query -----------------------------------------------------------------------

# Identifier keys (by DICOM keyword) and the query fields they give; the rest stay universal.
QUERY_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "all universal": ({}, {}),
    "station and modality": (
        {"ScheduledStationAETitle": "CT01", "Modality": "CT"},
        {"station_ae_title": "CT01", "modality": "CT"},
    ),
    "identifiers": (
        {"PatientID": "MRN0001", "AccessionNumber": "ACC0001", "RequestedProcedureID": "RP1"},
        {"patient_id": "MRN0001", "accession": "ACC0001", "requested_procedure_id": "RP1"},
    ),
    "padded values": (
        {"Modality": "CT ", "PatientID": " MRN0001 "},
        {"modality": "CT", "patient_id": "MRN0001"},
    ),
    "star is universal": (
        {"ScheduledStationAETitle": "*", "PatientID": "**", "PatientName": "*"},
        {},
    ),
    "wildcards on exact keys are universal": (
        {"PatientID": "MRN*", "AccessionNumber": "ACC?01", "Modality": "C?"},
        {},
    ),
    "single date": (
        {"ScheduledProcedureStepStartDate": "20260302"},
        {"start_from": utc(2026, 3, 1, 23), "start_to": utc(2026, 3, 2, 22, 59, 59, 999_999)},
    ),
    "single date in summer time": (
        {"ScheduledProcedureStepStartDate": "20260701"},
        {"start_from": utc(2026, 6, 30, 22), "start_to": utc(2026, 7, 1, 21, 59, 59, 999_999)},
    ),
    "date and time range": (
        {
            "ScheduledProcedureStepStartDate": "20260302",
            "ScheduledProcedureStepStartTime": "0800-1200",
        },
        {"start_from": utc(2026, 3, 2, 7), "start_to": utc(2026, 3, 2, 11, 0, 59, 999_999)},
    ),
    "date range and time range combine": (
        {
            "ScheduledProcedureStepStartDate": "20260301-20260305",
            "ScheduledProcedureStepStartTime": "0800-1700",
        },
        {"start_from": utc(2026, 3, 1, 7), "start_to": utc(2026, 3, 5, 16, 0, 59, 999_999)},
    ),
    "open start": (
        {"ScheduledProcedureStepStartDate": "-20260305"},
        {"start_to": utc(2026, 3, 5, 22, 59, 59, 999_999)},
    ),
    "open end": (
        {"ScheduledProcedureStepStartDate": "20260301-", "ScheduledProcedureStepStartTime": "10"},
        {"start_from": utc(2026, 3, 1, 9)},
    ),
    "date star is universal": (
        {"ScheduledProcedureStepStartDate": "*", "ScheduledProcedureStepStartTime": "0800"},
        {},
    ),
    "time without date is universal": ({"ScheduledProcedureStepStartTime": "0800-1000"}, {}),
    "offset of the query": (
        {"ScheduledProcedureStepStartDate": "20260302", "TimezoneOffsetFromUTC": "-0500"},
        {"start_from": utc(2026, 3, 2, 5), "start_to": utc(2026, 3, 3, 4, 59, 59, 999_999)},
    ),
    "no step sequence": (
        {"ScheduledProcedureStepSequence": None, "PatientID": "M1"},
        {"patient_id": "M1"},
    ),
    "step sequence without item": ({"ScheduledProcedureStepSequence": []}, {}),
    "name": ({"PatientName": "DOE^JANE"}, {"patient_name": "DOE^JANE%"}),
}


@pytest.mark.parametrize("name", list(QUERY_CASES))
def test_parse_worklist_query(name: str) -> None:
    """Each identifier reads to the query it asks, every other key universal."""
    keys, fields = QUERY_CASES[name]
    assert _parse(worklist_query(**keys)) == WorklistQuery(**fields)


@pytest.mark.parametrize("flag", [True, False])
def test_case_insensitive_names_is_the_sites_choice(flag: bool) -> None:
    """Case-insensitive name matching is passed on as the site configured it."""
    query = _parse(worklist_query(PatientName="doe*"), case_insensitive=flag)
    assert (query.patient_name, query.patient_name_case_insensitive) == ("doe%", flag)


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("DOE", "DOE%"),
        ("DOE*", "DOE%"),
        ("DOE^JANE", "DOE^JANE%"),
        ("DOE^JANE^Q", "DOE^JANE^Q%"),
        ("DOE^JANE^", "DOE^JANE%"),
        ("DOE^^Q", "DOE^^Q%"),
        ("DOE^J*", "DOE^J%"),
        ("DOE^*", "DOE^%"),
        ("*^JANE", ""),
        ("D?E^J*E", "D%"),
        ("D*E", "D%"),
        ("O_BRIEN%", "O\\_BRIEN\\%%"),
        ("BACK\\SLASH*", "BACK\\\\SLASH%"),
        ("DOE^JANE=ドウ^ジェーン", "DOE^JANE%"),
        ("MÜLLER^JÖRG", "MÜLLER^JÖRG%"),
        ("*", ""),
        ("***", ""),
        ("", ""),
        ("^", ""),
        ("^^", ""),
        ("=山田^太郎", ""),
    ],
)
def test_translate_person_name(name: str, pattern: str) -> None:
    """A PN key becomes a LIKE prefix of the stored FAMILY^GIVEN[^MIDDLE]: its literal text
    before the first wild card."""
    assert translate_person_name(name) == pattern


@pytest.mark.parametrize(
    ("keys", "tag"),
    [
        ({"ScheduledProcedureStepStartDate": "2026-03-02"}, worklist.START_DATE),
        ({"ScheduledProcedureStepStartDate": "20260230"}, worklist.START_DATE),
        ({"ScheduledProcedureStepStartDate": "20260305-20260301"}, worklist.START_DATE),
        (
            {
                "ScheduledProcedureStepStartDate": "20260302",
                "ScheduledProcedureStepStartTime": "8:00",
            },
            worklist.START_TIME,
        ),
        (
            {
                "ScheduledProcedureStepStartDate": "20260302",
                "ScheduledProcedureStepStartTime": "1700-0800",
            },
            worklist.START_TIME,
        ),
        (
            {"ScheduledProcedureStepStartDate": "20260302", "TimezoneOffsetFromUTC": "+2500"},
            OFFSET_TAG,
        ),
    ],
)
def test_malformed_keys_are_unable_to_process(keys: dict[str, str], tag: str) -> None:
    """A date, time or offset that cannot be read answers 0xC000, naming the attribute."""
    with pytest.raises(DicomMappingError) as caught:
        _parse(worklist_query(**keys))
    assert caught.value.status == CANNOT_UNDERSTAND == 0xC000
    assert caught.value.tag == tag


def test_two_step_items_do_not_match_the_sop_class() -> None:
    """A Scheduled Procedure Step Sequence of two items answers 0xA900 (C.2.2.2.6)."""
    items = [Dataset(), Dataset()]
    items[0].Modality, items[1].Modality = "CT", "MR"
    with pytest.raises(DicomMappingError) as caught:
        _parse(worklist_query(ScheduledProcedureStepSequence=items))
    assert caught.value.status == IDENTIFIER_DOES_NOT_MATCH == 0xA900
    assert caught.value.tag == worklist.STEP_SEQUENCE


@pytest.mark.parametrize("tag", [worklist.STEP_SEQUENCE, worklist.START_DATE, worklist.START_TIME])
def test_error_tags_agree_with_the_dictionary(tag: str) -> None:
    """Each tag an error names is the one the DICOM dictionary gives its keyword."""
    keyword = tag.split()[1]
    number = tag_for_keyword(keyword)
    assert number is not None
    assert tag == f"({number >> 16:04X},{number & 0xFFFF:04X}) {keyword}"


# --- wildcards, by property ------------------------------------------------------------


def like(pattern: str, text: str) -> bool:
    """SQL `text LIKE pattern ESCAPE '\\'`, case-sensitive, as a tiny evaluator."""
    regex, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            regex.append(re.escape(next(chars)))
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    return re.fullmatch("".join(regex), text, re.DOTALL) is not None


def dicom_match(key: str, value: str) -> bool:
    """DICOM wild card matching (PS3.4 C.2.2.2.4), fnmatch-like: `*` any run, `?` one char."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in key)
    return re.fullmatch(regex, value, re.DOTALL) is not None


key_text = st.text(alphabet=st.sampled_from("ab%_\\*?^ "), max_size=10)
value_text = st.text(alphabet=st.sampled_from("ab%_\\^ "), max_size=10)
component = st.text(
    alphabet=st.characters(blacklist_characters="*?^=", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=8,
)


@given(key_text, st.text(alphabet=st.sampled_from("ab%_\\^"), max_size=10))
def test_name_prefix_never_narrower_than_the_matcher(key: str, stored: str) -> None:
    """Every stored name the DICOM rule matches is among the store's LIKE candidates."""
    answered = stored.rstrip("^")
    wanted = key.strip(" ").rstrip("^")
    assume(wanted.strip("*"))
    pattern = translate_person_name(key)
    if dicom_match(wanted, answered) and pattern:
        assert like(pattern, stored)


@given(component, st.text(max_size=8).filter(lambda s: not set(s) & set("*?^=")), component)
def test_stored_name_matches_its_own_pattern(family: str, given_name: str, middle: str) -> None:
    """A stored FAMILY^GIVEN[^MIDDLE] name, asked for literally, is among the candidates."""
    for stored in (f"{family}^{given_name}", f"{family}^{given_name}^{middle}"):
        pattern = translate_person_name(stored)
        assert not pattern or like(pattern, stored)


# --- the answer ------------------------------------------------------------------------


def _answer(item: WorklistItem | None = None, **keys: Any) -> Dataset:
    return worklist_response(item or worklist_item(), worklist_query(**keys), facility_tz=BERLIN)


def _tags(ds: Dataset) -> set[int]:
    return {int(element.tag) for element in ds}


def test_response_answers_every_key_asked() -> None:
    """The answer holds exactly the query's keys, top level and in the step item."""
    query = worklist_query()
    answer = worklist_response(worklist_item(), query, facility_tz=BERLIN)
    assert _tags(answer) == _tags(query)
    step_asked = query.ScheduledProcedureStepSequence[0]
    assert _tags(answer.ScheduledProcedureStepSequence[0]) == _tags(step_asked)


def test_response_fills_every_field_from_the_item() -> None:
    """Each key the gateway knows is filled from the item, in facility local time."""
    answer = _answer(ReasonForTheRequestedProcedure="", TimezoneOffsetFromUTC="")
    assert "SpecificCharacterSet" not in answer
    assert answer.PatientName == "DOE^JANE^Q"
    assert answer.PatientID == "MRN0001"
    assert answer.IssuerOfPatientID == "GENERAL_HOSP"
    assert answer.PatientBirthDate == "19800101"
    assert answer.PatientSex == "F"
    assert answer.AccessionNumber == "ACC0001"
    assert answer.ReferringPhysicianName == "WELBY^MARCUS"
    assert answer.StudyInstanceUID == "1.2.826.0.1.3680043.8.498.1"
    assert answer.RequestedProcedureID == "RP0001"
    assert answer.RequestedProcedureDescription == "CT CHEST W/O CONTRAST"
    assert answer.RequestedProcedurePriority == "HIGH"
    assert answer.ReasonForTheRequestedProcedure == "COUGH"
    assert answer.TimezoneOffsetFromUTC == "+0100"
    (code,) = answer.RequestedProcedureCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "71250",
        "CPT4",
        "CT CHEST W/O CONTRAST",
    )
    (step,) = answer.ScheduledProcedureStepSequence
    assert step.ScheduledStationAETitle == "CT01"
    assert step.ScheduledProcedureStepStartDate == "20260302"
    assert step.ScheduledProcedureStepStartTime == "093000"
    assert step.Modality == "CT"
    assert step.ScheduledPerformingPhysicianName == ""
    assert step.ScheduledProcedureStepDescription == "CT CHEST W/O CONTRAST"
    assert step.ScheduledProcedureStepID == "RP0001"
    assert answer.AdmissionID == ""
    assert step.ScheduledStationName == ""
    assert step.ScheduledProcedureStepLocation == ""
    assert len(step.ScheduledProtocolCodeSequence) == 0


def test_response_keys_not_known_come_back_empty() -> None:
    """Keys the gateway cannot fill, private ones included, are returned empty of their VR."""
    query = worklist_query(AdmissionID="A1", PatientWeight="70", OtherPatientIDsSequence=[])
    query.add_new(0x00091010, "LO", "private value")
    answer = worklist_response(worklist_item(), query, facility_tz=BERLIN)
    assert answer.AdmissionID == ""
    assert answer["PatientWeight"].VR == "DS" and answer["PatientWeight"].is_empty
    assert len(answer.OtherPatientIDsSequence) == 0
    assert answer[0x00091010].VR == "LO" and answer[0x00091010].is_empty


def test_response_step_holds_only_the_keys_asked() -> None:
    """Inside the step sequence only the asked keys come back; the status only when asked."""
    step = Dataset()
    step.Modality = ""
    step.ScheduledProcedureStepStatus = ""
    step.ScheduledProcedureStepEndTime = ""
    query = Dataset()
    query.PatientID = ""
    query.ScheduledProcedureStepSequence = [step]
    answer = worklist_response(worklist_item(), query, facility_tz=BERLIN)
    assert [e.keyword for e in answer] == ["PatientID", "ScheduledProcedureStepSequence"]
    (answered,) = answer.ScheduledProcedureStepSequence
    assert [e.keyword for e in answered] == [
        "Modality",
        "ScheduledProcedureStepEndTime",
        "ScheduledProcedureStepStatus",
    ]
    assert answered.ScheduledProcedureStepStatus == "SCHEDULED"
    assert answered.ScheduledProcedureStepEndTime == "095000"


def test_response_to_an_empty_step_sequence_holds_the_whole_step() -> None:
    """A step sequence without an item asks for the whole step (C.2.2.2.6)."""
    (step,) = _answer(ScheduledProcedureStepSequence=[]).ScheduledProcedureStepSequence
    assert {e.keyword: e.value for e in step} == {
        "ScheduledStationAETitle": "CT01",
        "ScheduledStationName": "",
        "ScheduledProcedureStepStartDate": "20260302",
        "ScheduledProcedureStepStartTime": "093000",
        "ScheduledProcedureStepEndDate": "20260302",
        "ScheduledProcedureStepEndTime": "095000",
        "Modality": "CT",
        "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": "CT CHEST W/O CONTRAST",
        "ScheduledProcedureStepID": "RP0001",
        "ScheduledProcedureStepStatus": "SCHEDULED",
    }


def test_response_without_a_step_sequence_has_none() -> None:
    """No step sequence asked, none answered."""
    assert "ScheduledProcedureStepSequence" not in _answer(ScheduledProcedureStepSequence=None)


@pytest.mark.parametrize(
    ("changes", "keyword", "expected"),
    [
        ({"procedure_system": ""}, "CodingSchemeDesignator", "L"),
        ({"patient_middle": ""}, "PatientName", "DOE^JANE"),
        ({"patient_given": "", "patient_middle": ""}, "PatientName", "DOE"),
        (
            {"referring_physician_family": "", "referring_physician_given": ""},
            "ReferringPhysicianName",
            "",
        ),
        ({"birth_date": None}, "PatientBirthDate", ""),
        (
            {"scheduled_start": utc(2026, 7, 1, 22, 15)},
            "ScheduledProcedureStepStartDate",
            "20260702",
        ),
        ({"scheduled_start": utc(2026, 7, 1, 22, 15)}, "ScheduledProcedureStepStartTime", "001500"),
        ({"scheduled_start": utc(2026, 7, 1, 22, 15)}, "TimezoneOffsetFromUTC", "+0200"),
        ({"scheduled_duration_minutes": None}, "ScheduledProcedureStepEndDate", ""),
        ({"scheduled_duration_minutes": None}, "ScheduledProcedureStepEndTime", ""),
        ({"scheduled_start": utc(2026, 3, 2, 22, 50)}, "ScheduledProcedureStepEndDate", "20260303"),
    ],
)
def test_response_values(changes: dict[str, Any], keyword: str, expected: str) -> None:
    """Item variations show in the answer: default scheme, PN form, local date and time."""
    query = worklist_query(
        TimezoneOffsetFromUTC="", ScheduledProcedureStepEndDate="", ScheduledProcedureStepEndTime=""
    )
    answer = worklist_response(worklist_item(**changes), query, facility_tz=BERLIN)
    if keyword == "CodingSchemeDesignator":
        value = answer.RequestedProcedureCodeSequence[0].CodingSchemeDesignator
    elif keyword.startswith("Scheduled"):
        value = answer.ScheduledProcedureStepSequence[0][keyword].value
    else:
        value = answer[keyword].value
    assert str(value) == expected


def test_response_without_a_code_has_an_empty_code_sequence() -> None:
    """An order without a procedure code answers an empty Requested Procedure Code Sequence."""
    answer = _answer(worklist_item(procedure_code=""))
    assert len(answer.RequestedProcedureCodeSequence) == 0


@pytest.mark.parametrize(
    ("priority", "term"),
    [
        ("S", "HIGH"),
        ("STAT", "HIGH"),
        ("s", "HIGH"),
        ("A", "MEDIUM"),
        ("ASAP", "MEDIUM"),
        ("R", "ROUTINE"),
        ("P", "ROUTINE"),
        ("T", "ROUTINE"),
        ("", "ROUTINE"),
    ],
)
def test_priority(priority: str, term: str) -> None:
    """HL7 priorities map to (0040,1003): S/STAT HIGH, A/ASAP MEDIUM, anything else ROUTINE."""
    assert priority_term(priority) == term
    assert _answer(worklist_item(priority=priority)).RequestedProcedurePriority == term


def test_non_ascii_answer_is_utf8_on_the_wire() -> None:
    """Text outside ASCII sets ISO_IR 192; the answer encodes as UTF-8 and decodes the same."""
    item = worklist_item(
        patient_family="MÜLLER",
        patient_given="JÖRG",
        patient_middle="",
        procedure_text="Röntgen Thorax",
    )
    answer = worklist_response(item, worklist_query(), facility_tz=BERLIN)
    assert answer.SpecificCharacterSet == "ISO_IR 192"
    encoded = encode(answer, True, True)
    assert encoded is not None
    assert "MÜLLER^JÖRG".encode() in encoded
    assert "Röntgen Thorax".encode() in encoded
    decoded = decode(BytesIO(encoded), True, True)
    assert decoded.PatientName == "MÜLLER^JÖRG"
    step = decoded.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription == "Röntgen Thorax"


def test_ascii_answer_has_no_character_set_even_when_asked() -> None:
    """An all-ASCII answer uses the default repertoire, whatever the query declared."""
    answer = _answer(SpecificCharacterSet="ISO_IR 100")
    assert "SpecificCharacterSet" not in answer


def test_response_leaves_the_query_untouched() -> None:
    """The query identifier is read, never changed."""
    query = worklist_query(PatientName="DOE*")
    before = _parse(query)
    snapshot = [str(e) for e in query.iterall()]
    worklist_response(worklist_item(), query, facility_tz=BERLIN)
    assert [str(e) for e in query.iterall()] == snapshot
    assert _parse(query) == before
