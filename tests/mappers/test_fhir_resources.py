"""Store rows map to valid FHIR R4 resources, and search parameters to typed queries.

Validity is proved with fhir.resources' R4B models, the round trip being: parse the dict with
`model_validate`, dump it with `model_dump(mode="json", exclude_none=True)`, and get the very
same dict back. Leaving out `None` is the only default the comparison forgives; our dicts hold
no `None`, and since pydantic does not enforce FHIR's ele-1 (no empty element), a separate
check finds empty strings, lists and objects.
"""

from __future__ import annotations

import base64
import importlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mappers.fhir.bundle import to_fhir_searchset
from mappers.fhir.capability import to_fhir_capability_statement
from mappers.fhir.resources import to_fhir_resource
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
from mappers.fhir.search import (
    Clause,
    IdentifierMatch,
    Interval,
    SearchError,
    SearchQuery,
    Sort,
    decode_cursor,
    encode_cursor,
    page_parameters,
    parse_search,
)
from mappers.fhir.search_table import DEFAULT_COUNT, MAX_COUNT, SEARCHES, Field
from mappers.fhir.vocabulary import (
    ACCESSION,
    DICOM_UID,
    FILLER,
    IDENTIFIER_TYPES,
    ORDER_STATUSES,
    PATIENT_ID,
    PLACER,
    ResourceType,
    authority_of,
    patient_system,
)

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 52, 30, 250000, tzinfo=UTC)


def assert_r4b_round_trip(resource: dict[str, Any]) -> None:
    """The dict is a valid R4B resource that dumps back to itself, with no empty element."""
    name = resource["resourceType"]
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{name.lower()}"), name)
    dumped = model.model_validate(resource).model_dump(mode="json", exclude_none=True)
    assert dumped == resource
    assert _empty_elements(resource) == []


def _empty_elements(value: Any, path: str = "") -> list[str]:
    if value in ("", [], {}) or value is None:
        return [path]
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _empty_elements(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _empty_elements(item, f"{path}[{i}]")]
    return []


FULL_PATIENT = PatientRow(
    1, "MRN1", "GENERAL HOSP/2", "MÜLLER", "JANE", "Q", "DR", "JR", date(1980, 1, 2), "F", None, T
)
MERGED_PATIENT = PatientRow(2, "X9", "", "", "", "", "", "", None, "", 1, LATER)
FULL_ORDER = OrderRow(
    id=7,
    accession="ACC 1/2",
    patient_id=1,
    placer_number="PLC1",
    filler_number="FIL1",
    procedure_code="71250",
    procedure_text="CT CHEST",
    procedure_system="CPT4",
    modality="CT",
    priority="S",
    ordering_provider_id="1234",
    ordering_provider_name="WELBY, DR MARCUS",
    reason="COUGH",
    status="images_available",
    ordered_at=T,
    scheduled_start=LATER,
    updated_at=LATER,
)
BARE_ORDER = OrderRow(
    8, "A2", None, "", "", "", "", "", "", "", "", "", "", "cancelled", None, None, T
)
FULL_REPORT = ReportRow(
    3, 7, "ACC 1/2", 1, "corrected", "IMPRESSION:\nNormal. Müller", "445566", "CHEN, DR LILY",
    LATER, "RAD1", "Chest CT", "L", LATER,
)  # fmt: skip
BARE_REPORT = ReportRow(4, 8, "A2", None, "preliminary", "", "", "", T, "", "", "", T)
SERIES = (SeriesRow("1.2.3.1", "CT", "CHEST", 2), SeriesRow("1.2.3.2", "", "", 1))
FULL_STUDY = StudyRow(5, "1.2.3", "ACC 1/2", 7, 1, "MRN1", "GH", T, "CT CHEST", 9, 3, LATER, SERIES)
UNKNOWN_PATIENT_STUDY = StudyRow(6, "1.2.4", "", None, None, "STRANGER", "GH", None, "", None, 1, T)
EMPTY_STUDY = StudyRow(7, "1.2.5", "", None, None, "", "", None, "", None, 0, T)
FULL_STEP = StepRow(
    11, "1.2.9", 7, "ACC 1/2", 1, "COMPLETED", 9, T, LATER, "71250", "CT CHEST", "CPT4", LATER
)
BARE_STEP = StepRow(12, "1.2.10", None, "", None, "DISCONTINUED", None, None, None, "", "", "", T)
FULL_DEVICE = DeviceRow(9, "CT01", "CT-ROOM-1", "CT", "ACME", "Tomo 64", "SN1", "CT 1", "B2", T)
BARE_DEVICE = DeviceRow(10, "PACS", "", "", "", "", "", "", "", T)

ROWS = {
    "patient": FULL_PATIENT,
    "merged-patient": MERGED_PATIENT,
    "order": FULL_ORDER,
    "bare-order": BARE_ORDER,
    "report": FULL_REPORT,
    "bare-report": BARE_REPORT,
    "study": FULL_STUDY,
    "unknown-patient-study": UNKNOWN_PATIENT_STUDY,
    "empty-study": EMPTY_STUDY,
    "step": FULL_STEP,
    "bare-step": BARE_STEP,
    "device": FULL_DEVICE,
    "bare-device": BARE_DEVICE,
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_each_row_maps_to_a_valid_r4b_resource(row: ResourceRow) -> None:
    """Full and bare rows of every type give resources R4B parses and dumps back unchanged."""
    resource = to_fhir_resource(row)
    assert resource["id"] == str(row.id)
    assert_r4b_round_trip(resource)


def test_order_statuses_map_to_request_statuses() -> None:
    """Cancelled and discontinued are revoked, a final report completes, the rest is active."""
    assert ORDER_STATUSES == {
        "ordered": "active",
        "scheduled": "active",
        "arrived": "active",
        "exam_started": "active",
        "exam_completed": "active",
        "images_available": "active",
        "preliminary_report": "active",
        "final_report": "completed",
        "cancelled": "revoked",
        "discontinued": "revoked",
    }
    assert to_fhir_resource(BARE_ORDER)["status"] == "revoked"


@pytest.mark.parametrize(
    ("row", "status"),
    [
        (FULL_REPORT, "corrected"),
        (BARE_REPORT, "preliminary"),
        (FULL_STEP, "completed"),
        (BARE_STEP, "stopped"),
        (FULL_STUDY, "available"),
        (EMPTY_STUDY, "registered"),
    ],
)
def test_statuses_of_reports_steps_and_studies(row: ResourceRow, status: str) -> None:
    """Report, MPPS and study states map to the FHIR status codes."""
    assert to_fhir_resource(row)["status"] == status


@pytest.mark.parametrize(
    ("code", "priority"),
    [("S", "stat"), ("STAT", "stat"), ("A", "asap"), ("asap", "asap"), ("R", "routine")],
)
def test_priority_codes(code: str, priority: str) -> None:
    """S/STAT is stat, A/ASAP asap, any other code routine."""
    order = OrderRow(**{**_fields(FULL_ORDER), "priority": code})
    assert to_fhir_resource(order)["priority"] == priority


def test_an_order_without_priority_or_patient() -> None:
    """No priority is left out; an unknown patient is named by a display only."""
    resource = to_fhir_resource(BARE_ORDER)
    assert "priority" not in resource
    assert resource["subject"] == {"display": "patient not known to the gateway"}


def test_service_request_identifiers_and_links() -> None:
    """Accession (ACSN), placer (PLAC) and filler (FILL) numbers; subject and times."""
    resource = to_fhir_resource(FULL_ORDER)
    identifiers = resource["identifier"]
    assert [(i["system"], i["type"]["coding"][0]["code"], i["value"]) for i in identifiers] == [
        (ACCESSION.system, "ACSN", "ACC 1/2"),
        (PLACER.system, "PLAC", "PLC1"),
        (FILLER.system, "FILL", "FIL1"),
    ]  # fmt: skip
    assert resource["subject"] == {"reference": "Patient/1"}
    assert resource["authoredOn"] == "2026-03-02T08:00:00Z"
    assert resource["occurrenceDateTime"] == "2026-03-02T09:52:30.250000Z"
    assert resource["code"]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"


def test_patient_identifier_system_comes_from_the_authority() -> None:
    """The authority, percent-encoded, names the system; no authority, no system."""
    resource = to_fhir_resource(FULL_PATIENT)
    (identifier,) = resource["identifier"]
    assert identifier["system"] == "urn:imaging-gateway:authority:GENERAL%20HOSP%2F2"
    assert authority_of(identifier["system"]) == "GENERAL HOSP/2"
    assert patient_system("") is None and authority_of("urn:imaging-gateway:authority:") is None
    assert "system" not in to_fhir_resource(MERGED_PATIENT)["identifier"][0]
    assert resource["name"] == [
        {"family": "MÜLLER", "given": ["JANE", "Q"], "prefix": ["DR"], "suffix": ["JR"]}
    ]


def test_a_merged_patient_is_inactive_and_replaced_by_its_survivor() -> None:
    """ADT^A40: the merged patient links to the survivor with `replaced-by`."""
    resource = to_fhir_resource(MERGED_PATIENT)
    assert resource["active"] is False
    assert resource["link"] == [{"other": {"reference": "Patient/1"}, "type": "replaced-by"}]
    assert to_fhir_resource(FULL_PATIENT)["active"] is True


def test_imaging_study_series_counts_and_identifiers() -> None:
    """Series with DCM modality, uid and counts; the study UID as urn:oid; based on the order."""
    resource = to_fhir_resource(FULL_STUDY)
    assert resource["identifier"][0] == {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}
    assert resource["identifier"][1]["value"] == "ACC 1/2"
    assert resource["basedOn"] == [{"reference": "ServiceRequest/7"}]
    assert resource["numberOfSeries"] == 2 and resource["numberOfInstances"] == 3
    assert [s["modality"]["code"] for s in resource["series"]] == ["CT", "OT"]
    assert [s["numberOfInstances"] for s in resource["series"]] == [2, 1]
    assert resource["series"][0]["performer"] == [{"actor": {"reference": "Device/9"}}]
    assert "endpoint" not in resource


@pytest.mark.parametrize(
    ("row", "subject"),
    [
        (FULL_STUDY, {"reference": "Patient/1"}),
        (
            UNKNOWN_PATIENT_STUDY,
            {
                "identifier": {
                    "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "MR"}]},
                    "system": "urn:imaging-gateway:authority:GH",
                    "value": "STRANGER",
                }
            },
        ),
        (EMPTY_STUDY, {"display": "patient not known to the gateway"}),
    ],
)
def test_imaging_study_subject(row: StudyRow, subject: dict[str, Any]) -> None:
    """The resolved patient, else the identifier the images carry, else a display."""
    assert to_fhir_resource(row)["subject"] == subject


def test_report_text_is_presented_as_base64_utf8() -> None:
    """presentedForm holds the whole text, UTF-8, base64; LOINC 18748-4 and the order's code."""
    resource = to_fhir_resource(FULL_REPORT)
    (form,) = resource["presentedForm"]
    assert form["contentType"] == "text/plain; charset=utf-8"
    assert base64.b64decode(form["data"]).decode("utf-8") == FULL_REPORT.text
    assert [c["code"] for c in resource["code"]["coding"]] == ["18748-4", "RAD1"]
    assert resource["code"]["coding"][1]["system"] == "urn:imaging-gateway:code-system:L"
    assert "presentedForm" not in to_fhir_resource(BARE_REPORT)


def test_procedure_period_performer_and_identifiers() -> None:
    """MPPS times as performedPeriod, the device as performer, the MPPS UID as urn:oid."""
    resource = to_fhir_resource(FULL_STEP)
    assert resource["performedPeriod"] == {
        "start": "2026-03-02T08:00:00Z",
        "end": "2026-03-02T09:52:30.250000Z",
    }
    assert resource["performer"] == [{"actor": {"reference": "Device/9"}}]
    assert resource["identifier"][0] == {"system": "urn:dicom:uid", "value": "urn:oid:1.2.9"}


def test_searchset_bundle() -> None:
    """Matches then includes, each with fullUrl and search mode; no entry when none."""
    bundle = to_fhir_searchset(
        "http://gw/fhir",
        [("self", "http://gw/fhir/ServiceRequest?_count=1")],
        2,
        [to_fhir_resource(FULL_ORDER)],
        [to_fhir_resource(FULL_PATIENT)],
    )
    assert_r4b_round_trip(bundle)
    assert [(e["fullUrl"], e["search"]["mode"]) for e in bundle["entry"]] == [
        ("http://gw/fhir/ServiceRequest/7", "match"),
        ("http://gw/fhir/Patient/1", "include"),
    ]
    empty = to_fhir_searchset("http://gw/fhir", [("self", "http://gw/fhir/Device")], 0, [])
    assert "entry" not in empty
    assert_r4b_round_trip(empty)


# --- search parameters ------------------------------------------------------------------

SR = ResourceType.SERVICE_REQUEST
STUDY = ResourceType.IMAGING_STUDY
REPORT = ResourceType.DIAGNOSTIC_REPORT


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _parse(resource_type: ResourceType, **params: str) -> SearchQuery:
    return parse_search(resource_type, list(params.items()))


@pytest.mark.parametrize(
    ("value", "interval"),
    [
        ("2026", Interval(_utc(2026, 1, 1), _utc(2027, 1, 1))),
        ("2026-12", Interval(_utc(2026, 12, 1), _utc(2027, 1, 1))),
        ("eq2026-03-02", Interval(_utc(2026, 3, 2), _utc(2026, 3, 3))),
        ("ge2026-03-02", Interval(_utc(2026, 3, 2), None)),
        ("gt2026-03-02", Interval(_utc(2026, 3, 3), None)),
        ("le2026-03-02", Interval(None, _utc(2026, 3, 3))),
        ("lt2026-03-02", Interval(None, _utc(2026, 3, 2))),
        ("2026-03-02T09:30+01:00", Interval(_utc(2026, 3, 2, 8, 30), _utc(2026, 3, 2, 8, 31))),
        ("2026-03-02T08:30:15Z",
         Interval(_utc(2026, 3, 2, 8, 30, 15), _utc(2026, 3, 2, 8, 30, 16))),
        (
            "ge2026-03-02T08:30:15.5Z",
            Interval(_utc(2026, 3, 2, 8, 30, 15, 500000), None),
        ),
        # A "+" sent unescaped in a query string arrives as a space.
        ("2026-03-02T09:30:00 01:00",
         Interval(_utc(2026, 3, 2, 8, 30), _utc(2026, 3, 2, 8, 30, 1))),
    ],
)  # fmt: skip
def test_date_values_select_the_range_their_precision_spans(value: str, interval: Interval) -> None:
    """A date's precision gives its range; the prefix compares the stored time with it."""
    assert _parse(SR, authored=value).clauses == (Clause(Field.DATE, (interval,)),)


def test_fraction_of_a_second_is_its_own_precision() -> None:
    """eq with tenths of a second spans a tenth of a second."""
    (clause,) = _parse(SR, date="2026-03-02T08:30:15.5Z").clauses
    (interval,) = clause.values
    assert isinstance(interval, Interval) and interval.start and interval.end
    assert interval.end - interval.start == timedelta(milliseconds=100)


@pytest.mark.parametrize(
    ("resource_type", "value", "matches"),
    [
        (ResourceType.PATIENT, "urn:imaging-gateway:authority:GENERAL_HOSP|P1",
         [IdentifierMatch(PATIENT_ID, "P1", "GENERAL_HOSP")]),
        (ResourceType.PATIENT, "|P1", [IdentifierMatch(PATIENT_ID, "P1", "")]),
        (ResourceType.PATIENT, "P1", [IdentifierMatch(PATIENT_ID, "P1")]),
        (ResourceType.PATIENT, "urn:other|P1", []),
        (SR, "urn:imaging-gateway:accession|A1", [IdentifierMatch(ACCESSION, "A1")]),
        (SR, "A1", [IdentifierMatch(k, "A1") for k in (ACCESSION, PLACER, FILLER)]),
        (SR, "|A1", []),
        (SR, "A\\|1", [IdentifierMatch(k, "A|1") for k in (ACCESSION, PLACER, FILLER)]),
        (STUDY, "urn:dicom:uid|urn:oid:1.2.3", [IdentifierMatch(DICOM_UID, "1.2.3")]),
        (STUDY, "urn:dicom:uid|1.2.3", []),
        (STUDY, "1.2.3", [IdentifierMatch(ACCESSION, "1.2.3")]),
    ],
)  # fmt: skip
def test_identifier_tokens(
    resource_type: ResourceType, value: str, matches: list[IdentifierMatch]
) -> None:
    """system|value, |value and value name the identifier kinds the type carries."""
    clauses = _parse(resource_type, identifier=value).clauses
    assert clauses == (Clause(Field.IDENTIFIER, tuple(matches)),)


def test_identifier_of_type_as_ihe_searches_by_accession() -> None:
    """identifier:of-type=v2-0203|ACSN|<accession> names the accession only."""
    query = parse_search(
        REPORT,
        [("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|ACSN|A1")],
    )
    assert query.clauses == (Clause(Field.IDENTIFIER, (IdentifierMatch(ACCESSION, "A1"),)),)


def test_repeats_are_and_commas_are_or() -> None:
    """Two `status` parameters are two clauses; a comma list is one; `\\,` is a comma."""
    query = parse_search(
        SR,
        [
            ("status", "active,revoked"),
            ("status", "completed"),
            ("identifier", "A\\,1,B"),
            ("patient", "Patient/3,4"),
            ("_id", "12,abc"),
        ],
    )
    assert query.clauses == (
        Clause(
            Field.STATUS,
            (*(s for s, f in ORDER_STATUSES.items() if f == "active"), "cancelled", "discontinued"),
        ),
        Clause(Field.STATUS, ("final_report",)),
        Clause(
            Field.IDENTIFIER,
            tuple(IdentifierMatch(k, v) for v in ("A,1", "B") for k in (ACCESSION, PLACER, FILLER)),
        ),
        Clause(Field.PATIENT, (3, 4)),
        Clause(Field.ID, (12,)),  # a FHIR id that is no row id matches nothing
    )


def test_result_parameters() -> None:
    """_count (capped), _sort, _include and empty values (ignored)."""
    query = _parse(
        STUDY, _count="500", _sort="-date", _include="ImagingStudy:patient", modality="", status=""
    )
    assert query == SearchQuery(
        STUDY, (), include_patient=True, sort=Sort(Field.DATE, descending=True), count=MAX_COUNT
    )
    assert _parse(SR).count == DEFAULT_COUNT and _parse(SR).sort == Sort(Field.ID)
    assert _parse(SR, _sort="_lastUpdated").sort == Sort(Field.LAST_UPDATED)
    assert _parse(STUDY, modality="http://dicom.nema.org/resources/ontology/DCM|MR").clauses == (
        Clause(Field.MODALITY, ("MR",)),
    )


@pytest.mark.parametrize(
    ("resource_type", "params", "named"),
    [
        (SR, [("foo", "1")], "foo"),
        (SR, [("_summary", "count")], "_summary"),
        (SR, [("identifier:exact", "A1")], "identifier:exact"),
        (SR, [("_count:x", "1")], "_count:x"),
        (SR, [("authored", "2026-13-01")], "authored"),
        (SR, [("authored", "2026-03-02T08:00:00")], "authored"),
        (SR, [("authored", "sa2026")], "authored"),
        (SR, [("authored", "ne2026")], "authored"),
        (SR, [("date", "yesterday")], "date"),
        (SR, [("status", "bogus")], "status"),
        (SR, [("status", "active,")], "status"),
        (SR, [("patient", "Group/1")], "patient"),
        (SR, [("subject", "Patient/a_b")], "subject"),
        (SR, [("_id", "x y")], "_id"),
        (SR, [("identifier", "a|b|c")], "identifier"),
        (SR, [("identifier:of-type", "ACSN|A1")], "identifier:of-type"),
        (SR, [("_sort", "authored")], "_sort"),
        (SR, [("_sort", "date,_lastUpdated")], "_sort"),
        (SR, [("_include", "ImagingStudy:patient")], "_include"),
        (SR, [("_count", "-1")], "_count"),
        (SR, [("_count", "2"), ("_count", "3")], "_count"),
        (SR, [("_cursor", "garbage")], "_cursor"),
        (SR, [("_format", "xml")], "_format"),
        (ResourceType.PATIENT, [("status", "active")], "status"),
        (ResourceType.PATIENT, [("_include", "Patient:link")], "_include"),
        (ResourceType.DEVICE, [("_sort", "date")], "_sort"),
        (STUDY, [("modality", "a|b|c")], "modality"),
    ],
)
def test_bad_parameters_are_refused_by_name(
    resource_type: ResourceType, params: list[tuple[str, str]], named: str
) -> None:
    """Strict handling: the error message starts with the parameter it is about."""
    with pytest.raises(SearchError) as raised:
        parse_search(resource_type, params)
    assert str(raised.value).startswith(f"{named}: ")


def test_cursor_round_trip_and_refusal_for_another_sort() -> None:
    """A cursor carries its sort key and is refused for a search in another order."""
    by_date = Sort(Field.DATE, descending=True)
    for key in ((T, 5), (None, 6)):
        assert decode_cursor(encode_cursor(by_date, key), by_date) == key
    assert decode_cursor(encode_cursor(Sort(), (None, 3)), Sort()) == (None, 3)
    with pytest.raises(SearchError, match=r"^_cursor: "):
        decode_cursor(encode_cursor(by_date, (T, 5)), Sort(Field.DATE))
    cursor = encode_cursor(by_date, (T, 5))
    assert _parse(SR, _sort="-date", _cursor=cursor).after == (T, 5)


def test_page_parameters_replace_count_and_cursor() -> None:
    """A page link keeps the search and sets `_count` and `_cursor`."""
    pairs = [("status", "active"), ("_cursor", "old"), ("_count", "500"), ("date", "")]
    assert page_parameters(pairs, 200, "new") == [
        ("status", "active"),
        ("_count", "200"),
        ("_cursor", "new"),
    ]
    assert page_parameters(pairs, 20, None) == [("status", "active"), ("_count", "20")]


def test_capability_statement_lists_exactly_the_table() -> None:
    """Valid R4B; each type with read and search-type, its parameters and include."""
    statement = to_fhir_capability_statement("http://gw/fhir", "1.0")
    assert_r4b_round_trip(statement)
    assert statement["fhirVersion"] == "4.0.1" and statement["format"] == ["json"]
    (rest,) = statement["rest"]
    listed = {
        r["type"]: (
            [p["name"] for p in r["searchParam"]],
            [(p["name"], p["type"]) for p in r["searchParam"]],
            r.get("searchInclude", []),
            [i["code"] for i in r["interaction"]],
        )
        for r in rest["resource"]
    }
    assert listed == {
        str(t): (
            [p.name for p in s.parameters],
            [(p.name, p.type) for p in s.parameters],
            [s.include] if s.include else [],
            ["read", "search-type"],
        )
        for t, s in SEARCHES.items()
    }
    assert set(listed) == {str(t) for t in ResourceType}


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}
