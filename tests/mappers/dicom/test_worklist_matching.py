"""Worklist matching by PS3.4 C.2.2.2 and K.6.1.2, table by table, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from fixtures.dicom import worklist_item, worklist_query
from mappers.dicom.errors import CANNOT_UNDERSTAND, DicomMappingError
from mappers.dicom.worklist import parse_worklist_query
from mappers.dicom.worklist_model import WorklistItem

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

BERLIN = ZoneInfo("Europe/Berlin")
# The fixture's item: DOE^JANE^Q, MRN0001, ACC0001, RP0001, CT on CT01, starting
# 2026-03-02 08:30 UTC (09:30 in Berlin), 20 minutes, CPT4 71250, born 1980-01-01, F.


def matches(keys: dict[str, Any], item: WorklistItem | None = None, *, fold: bool = True) -> bool:
    query = parse_worklist_query(
        worklist_query(**keys), facility_tz=BERLIN, case_insensitive_names=fold
    )
    assert query.matcher is not None
    return query.matcher.matches(item or worklist_item())


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


TWO_STATIONS = worklist_item(scheduled_station="CT01\\CT02")

# name: (keys, item or None for the fixture's, matches?)
CASES: dict[str, tuple[dict[str, Any], WorklistItem | None, bool]] = {
    # Universal matching (C.2.2.2.3)
    "every key empty": ({}, None, True),
    "star alone": ({"PatientID": "*", "ScheduledStationAETitle": "**"}, None, True),
    "key absent": ({"PatientID": None, "ScheduledProcedureStepSequence": None}, None, True),
    "empty item in a code sequence": ({"RequestedProcedureCodeSequence": [Dataset()]}, None, True),
    # Single value matching (C.2.2.2.1)
    "patient id": ({"PatientID": "MRN0001"}, None, True),
    "another patient id": ({"PatientID": "MRN0002"}, None, False),
    "padding is insignificant": ({"PatientID": " MRN0001 "}, None, True),
    "case matters for LO": ({"PatientID": "mrn0001"}, None, False),
    "accession": ({"AccessionNumber": "ACC0001"}, None, True),
    "requested procedure id": ({"RequestedProcedureID": "RP9"}, None, False),
    "modality": ({"Modality": "CT"}, None, True),
    "other modality": ({"Modality": "MR"}, None, False),
    "sex": ({"PatientSex": "F"}, None, True),
    "empty item value never matches": ({"PatientSex": "F"}, worklist_item(sex=""), False),
    "priority term": ({"RequestedProcedurePriority": "HIGH"}, None, True),
    "step status": ({"ScheduledProcedureStepStatus": "SCHEDULED"}, None, True),
    "full name": ({"PatientName": "DOE^JANE^Q"}, None, True),
    "name without middle": ({"PatientName": "DOE^JANE"}, None, False),
    "family alone is a whole value": ({"PatientName": "DOE"}, None, False),
    "family alone matches a family-only name": (
        {"PatientName": "DOE"},
        worklist_item(patient_given="", patient_middle=""),
        True,
    ),
    "trailing empty components": ({"PatientName": "DOE^JANE^Q^^"}, None, True),
    "ideographic group ignored": ({"PatientName": "DOE^JANE^Q=ドウ^ジェーン"}, None, True),
    "name case folded": ({"PatientName": "doe^jane^q"}, None, True),
    # Wild card matching (C.2.2.2.4)
    "name prefix": ({"PatientName": "DOE*"}, None, True),
    "name infix": ({"PatientName": "*JANE*"}, None, True),
    "name question mark": ({"PatientName": "D?E^JANE^Q"}, None, True),
    "question mark is one character": ({"PatientName": "D?^JANE^Q"}, None, False),
    "star reaches across components": ({"PatientName": "D*Q"}, None, True),
    "wrong prefix": ({"PatientName": "SMITH*"}, None, False),
    "station wildcard": ({"ScheduledStationAETitle": "CT*"}, None, True),
    "station wildcard misses": ({"ScheduledStationAETitle": "MR?1"}, None, False),
    "accession wildcard": ({"AccessionNumber": "ACC000?"}, None, True),
    "description wildcard": ({"RequestedProcedureDescription": "*CHEST*"}, None, True),
    # List of UID matching (C.2.2.2.2)
    "one UID of a list": (
        {"StudyInstanceUID": "1.2.3\\1.2.826.0.1.3680043.8.498.1"},
        None,
        True,
    ),
    "no UID of the list": ({"StudyInstanceUID": "1.2.3\\1.2.4"}, None, False),
    "a list of AE titles": ({"ScheduledStationAETitle": "MR01\\CT01"}, None, True),
    # Multi-valued Scheduled Station AE Title
    "first of two stations": ({"ScheduledStationAETitle": "CT01"}, TWO_STATIONS, True),
    "second of two stations": ({"ScheduledStationAETitle": "CT02"}, TWO_STATIONS, True),
    "neither of two stations": ({"ScheduledStationAETitle": "CT03"}, TWO_STATIONS, False),
    "station name": (
        {"ScheduledStationName": "CT-A"},
        worklist_item(scheduled_station_name="CT-A"),
        True,
    ),
    "unknown station name": ({"ScheduledStationName": "CT-A"}, None, False),
    # Range matching on date, time and date-time (C.2.2.2.5); Berlin is UTC+1 in March.
    "today": ({"ScheduledProcedureStepStartDate": "20260302"}, None, True),
    "another day": ({"ScheduledProcedureStepStartDate": "20260303"}, None, False),
    "date range": ({"ScheduledProcedureStepStartDate": "20260301-20260302"}, None, True),
    "open date range from": ({"ScheduledProcedureStepStartDate": "20260302-"}, None, True),
    "open date range to": ({"ScheduledProcedureStepStartDate": "-20260301"}, None, False),
    "today from noon": (
        {"ScheduledProcedureStepStartDate": "20260302", "ScheduledProcedureStepStartTime": "1200-"},
        None,
        False,
    ),
    "today until ten": (
        {"ScheduledProcedureStepStartDate": "20260302", "ScheduledProcedureStepStartTime": "-10"},
        None,
        True,
    ),
    "combined date-time range": (
        {
            "ScheduledProcedureStepStartDate": "20260301-20260302",
            "ScheduledProcedureStepStartTime": "1200-0900",
        },
        None,
        False,
    ),
    "combined range, time past its first day": (
        {
            "ScheduledProcedureStepStartDate": "20260301-20260303",
            "ScheduledProcedureStepStartTime": "1200-0900",
        },
        None,
        True,
    ),
    "time range with no date": ({"ScheduledProcedureStepStartTime": "0900-1000"}, None, True),
    "open time range with no date": ({"ScheduledProcedureStepStartTime": "120000-"}, None, False),
    "time with no date, single hour": ({"ScheduledProcedureStepStartTime": "09"}, None, True),
    "date in the query's offset": (
        {
            "ScheduledProcedureStepStartDate": "20260302",
            "ScheduledProcedureStepStartTime": "0830",
            "TimezoneOffsetFromUTC": "+0000",
        },
        None,
        True,
    ),
    "time of day in the query's offset": (
        {"ScheduledProcedureStepStartTime": "0930", "TimezoneOffsetFromUTC": "+0000"},
        None,
        False,
    ),
    "birth date range": ({"PatientBirthDate": "19700101-19801231"}, None, True),
    "birth date outside": ({"PatientBirthDate": "19900101-"}, None, False),
    "birth date unknown": (
        {"PatientBirthDate": "19700101-"},
        worklist_item(birth_date=None),
        False,
    ),
    # Sequence matching (C.2.2.2.6)
    # Keys the gateway keeps no value for are return keys only.
    "performing physician is a return key": (
        {"ScheduledPerformingPhysicianName": "SMITH"},
        None,
        True,
    ),
    "admission id is a return key": ({"AdmissionID": "V1"}, None, True),
}


def _code_item(**values: str) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


CASES |= {
    "code value": (
        {"RequestedProcedureCodeSequence": [_code_item(CodeValue="71250")]},
        None,
        True,
    ),
    "code value and scheme": (
        {
            "RequestedProcedureCodeSequence": [
                _code_item(CodeValue="71250", CodingSchemeDesignator="CPT4")
            ]
        },
        None,
        True,
    ),
    "code value with the wrong scheme": (
        {
            "RequestedProcedureCodeSequence": [
                _code_item(CodeValue="71250", CodingSchemeDesignator="SCT")
            ]
        },
        None,
        False,
    ),
    "code meaning wildcard": (
        {"RequestedProcedureCodeSequence": [_code_item(CodeMeaning="CT CHEST*")]},
        None,
        True,
    ),
    "no code to match": (
        {"RequestedProcedureCodeSequence": [_code_item(CodeValue="71250")]},
        worklist_item(procedure_code=""),
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matching_rule(name: str) -> None:
    """Each rule of PS3.4 C.2.2.2 decides the fixture's item as the standard says."""
    keys, item, expected = CASES[name]
    assert matches(keys, item) is expected


def test_case_sensitive_names_when_the_site_says_so() -> None:
    """With case folding off, a PN key matches only in the item's own case."""
    assert not matches({"PatientName": "doe^jane^q"}, fold=False)
    assert matches({"PatientName": "DOE^JANE^Q"}, fold=False)


def test_query_in_latin_1_matches_a_name_kept_in_unicode() -> None:
    """A query encoded in ISO_IR 100 is decoded by its Specific Character Set and matches."""
    identifier = worklist_query(PatientName="MÜLLER^JÖRG")
    identifier.SpecificCharacterSet = "ISO_IR 100"
    wire = encode(identifier, True, True)
    assert "MÜLLER".encode("latin-1") in wire
    decoded = decode(BytesIO(wire), True, True)
    query = parse_worklist_query(decoded, facility_tz=BERLIN, case_insensitive_names=False)
    item = worklist_item(patient_family="MÜLLER", patient_given="JÖRG", patient_middle="")
    assert query.matcher is not None and query.matcher.matches(item)


def test_query_in_utf_8_with_a_wildcard() -> None:
    """A UTF-8 query with a wild card matches a non-ASCII name, case folded."""
    identifier = worklist_query(PatientName="müll*")
    identifier.SpecificCharacterSet = "ISO_IR 192"
    decoded = decode(BytesIO(encode(identifier, True, True)), True, True)
    query = parse_worklist_query(decoded, facility_tz=BERLIN, case_insensitive_names=True)
    item = worklist_item(patient_family="MÜLLER", patient_given="JÖRG", patient_middle="")
    assert query.matcher is not None and query.matcher.matches(item)


@pytest.mark.parametrize(
    "keys",
    [
        {"PatientBirthDate": "1980-01-01"},
        {"ScheduledProcedureStepStartTime": "25"},
        {"ScheduledProcedureStepStartTime": "1200-0800"},
    ],
)
def test_unreadable_range_is_unable_to_process(keys: dict[str, str]) -> None:
    """A date or time key that cannot be read answers 0xC000."""
    with pytest.raises(DicomMappingError) as caught:
        matches(keys)
    assert caught.value.status == CANNOT_UNDERSTAND


def test_prefilter_is_never_narrower_than_the_matcher() -> None:
    """Every key the store narrows by is universal where the matcher takes lists or patterns."""
    query = parse_worklist_query(
        worklist_query(
            ScheduledStationAETitle="CT*",
            PatientID="MRN\\MRN0001",
            AccessionNumber="ACC?",
            Modality="CT",
        ),
        facility_tz=BERLIN,
        case_insensitive_names=True,
    )
    assert (query.station_ae_title, query.patient_id, query.accession) == ("", "", "")
    assert query.modality == "CT"
