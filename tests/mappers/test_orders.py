"""ORM^O01 / OMI^O23 new orders map to a patient and orders, field by field, over real samples."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mappers.errors import ErrorCode, InvalidValue, MissingField
from mappers.events import (
    CodedValue,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderPlaced,
    PatientClass,
    PatientId,
    PatientUpserted,
)
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.dispatch import map_message
from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.header import read_header
from mappers.hl7v2.rules import MappingRules

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"


def _map(text: str, tz: ZoneInfo | type[UTC] = UTC) -> list | None:
    return map_message(parse_message(text), read_header(text), MappingRules(facility_tz=tz))


def _map_file(name: str) -> list | None:
    text, _ = decode_message((FIXTURES / name).read_bytes(), "UNICODE UTF-8")
    return _map(text)


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


# Expected values read off each sample by hand: file -> patient, then the order's fields.
CASES = {
    "orm_o01_nw_v23_meditech_cr.hl7": (
        ("M000123456", "GENERAL_HOSP", "BRENNAN", "THOMAS", date(1958, 2, 14), "M"),
        dict(
            accession="ACC240312001",
            placer_number="ORD448811",
            filler_number="ACC240312001",
            procedure=CodedValue("CXR2V", "XR CHEST 2 VIEWS PA AND LATERAL", "L"),
            modality="CR",
            priority="S",
            provider=("004471", "OKAFOR", "CHIDI"),
            reason="SHORTNESS OF BREATH",
            ordered_at=_at("202403120745"),
        ),
    ),
    "orm_o01_nw_v231_epic_ct.hl7": (
        ("E4471203", "GENERAL_HOSP", "GARCIA", "MARIA", date(1971, 8, 23), "F"),
        dict(
            accession="ACC240312002",
            placer_number="E99120001",
            filler_number="ACC240312002",
            procedure=CodedValue("71250", "CT CHEST W/O CONTRAST", "CPT4"),
            modality="CT",
            priority="S",
            provider=("102938", "NAKAMURA", "KENJI"),
            reason="CHEST PAIN, UNSPECIFIED",
            ordered_at=_at("202403120912"),
        ),
    ),
    "orm_o01_nw_v231_zsegment_mg.hl7": (
        ("WC0045567", "WOMENS_CENTER", "LINDQVIST", "INGRID", date(1970, 5, 12), "F"),
        dict(
            accession="ACC240314005",
            placer_number="WCO90021",
            filler_number="ACC240314005",
            procedure=CodedValue("77067", "SCREENING MAMMOGRAPHY BILATERAL", "CPT4"),
            modality="MG",
            priority="R",
            provider=("772100", "HOLLOWAY", "GRACE"),
            reason="",
            ordered_at=_at("202403140810"),
        ),
    ),
    "orm_o01_nw_v231_latin1_cr.hl7": (
        ("GH0120551", "GENERAL_HOSP", "SØNDERGÅRD", "SØREN", date(1977, 9, 19), "M"),
        dict(
            accession="ACC240319013",
            placer_number="NRD30441",
            filler_number="ACC240319013",
            procedure=CodedValue("73562", "XR KNEE 3 VIEWS RIGHT", "CPT4"),
            modality="CR",
            priority="R",
            provider=("667788", "PEÑA", "JOSÉ"),
            reason="Knæ smerter efter fald",
            ordered_at=_at("202403191344"),
        ),
    ),
    "orm_o01_nw_v24_cerner_mr.hl7": (
        ("MRN7781230", "GENERAL_HOSP", "OKONKWO", "ADAEZE", date(1989, 1, 7), "F"),
        dict(
            accession="ACC240313003",
            placer_number="CRN51002331",
            filler_number="ACC240313003",
            procedure=CodedValue("MRBRWWO", "MRI BRAIN W AND WO CONTRAST", "L"),
            modality="MR",
            priority="R",
            provider=("330451", "FITZGERALD", "SEAN"),
            reason="MIGRAINE, UNSPECIFIED",
            ordered_at=_at("202403131015"),
        ),
    ),
    "orm_o01_nw_v24_escapes_nm.hl7": (
        ("GH0103378", "GENERAL_HOSP", "O'NEILL", "PATRICK", date(1949, 9, 18), "M"),
        dict(
            accession="ACC240314006",
            placer_number="SEC77410",
            filler_number="ACC240314006",
            procedure=CodedValue("78306", "NM BONE SCAN WHOLE BODY", "CPT4"),
            modality="NM",
            priority="A",
            provider=("610022", "ROSSI", "MARCO"),
            reason="Prostate CA&mets? Pain L|R hip\nPSA 14^ng\\mL",
            ordered_at=_at("202403141533"),
        ),
    ),
    "orm_o01_nw_v251_tq1_us.hl7": (
        ("GH0099341", "GENERAL_HOSP", "VASQUEZ", "ELENA", date(1966, 3, 30), "F"),
        dict(
            accession="ACC240313004",
            placer_number="RAD51877",
            filler_number="ACC240313004",
            procedure=CodedValue("76700", "US ABDOMEN COMPLETE", "CPT4"),
            modality="US",
            priority="A",
            provider=("1437291850", "BERGSTROM", "ANNA"),
            reason="RIGHT UPPER QUADRANT PAIN",
            ordered_at=_at("202403131144"),
        ),
    ),
    "orm_o01_nw_v251_utf8_mr.hl7": (
        ("KN00451277", "KLINIKUM_NORD", "Müller", "Łukasz", date(1985, 4, 2), "M"),
        dict(
            accession="ACC240318012",
            placer_number="KN88120",
            filler_number="ACC240318012",
            procedure=CodedValue("MRKOPF", "MRT Schädel nativ", "L"),
            modality="MR",
            priority="R",
            provider=("204466", "Schäfer", "Jürgen"),
            reason="Kopfschmerz seit 3 Wochen, Ausschluss Raumforderung",
            ordered_at=_at("202403180915"),
        ),
    ),
    "omi_o23_nw_v251_ipc_ct.hl7": (
        ("GH0077125", "GENERAL_HOSP", "KOWALCZYK", "ANNA", date(1993, 6, 21), "F"),
        dict(
            accession="ACC240315007",
            placer_number="RAD51990",
            filler_number="ACC240315007",
            procedure=CodedValue("70450", "CT HEAD W/O CONTRAST", "CPT4"),
            modality="CT",
            priority="S",
            provider=("004471", "OKAFOR", "CHIDI"),
            reason="Fall, head strike, on anticoagulation",
            ordered_at=_at("202403150217"),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_new_order_sample_maps_field_by_field(name: str) -> None:
    """Each vendor's new-order sample yields its patient, then its order, every field as sent."""
    (pid, authority, family, given, born, sex), expected = CASES[name]
    events = _map_file(name)
    assert events is not None and len(events) == 2
    patient, order = events
    assert isinstance(patient, PatientUpserted) and isinstance(order, OrderPlaced)
    assert patient.patient == PatientId(pid, authority)
    assert (patient.name.family, patient.name.given) == (family, given)
    assert (patient.birth_date, patient.sex) == (born, sex)
    assert order.patient == patient.patient
    provider = order.details.ordering_provider
    assert (provider.id, provider.name.family, provider.name.given) == expected["provider"]
    actual = {
        key: getattr(order, key) if hasattr(order, key) else getattr(order.details, key)
        for key in expected
        if key != "provider"
    }
    assert actual == {key: value for key, value in expected.items() if key != "provider"}


def test_every_new_order_sample_is_in_the_table() -> None:
    """No ORM/OMI NW sample in fixtures/hl7 goes untested."""
    samples = {p.name for p in FIXTURES.glob("o[rm][mi]_o*_nw_*.hl7")}
    assert samples == set(CASES)


ORDER = (
    "MSH|^~\\&|RIS|H|GW|R|20261122083000||ORM^O01|X1|P|2.3.1\r"
    "PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r"
    "ORC|NW|PL1|FI1||||||20261122083000\r"
    "OBR|1|PL1|FI1|71250^CT CHEST^CPT4||||||||||||||ACC1\r"
)


def test_local_times_are_read_in_the_facility_zone() -> None:
    """ORC-9 without an offset is facility time: 08:30 in Chicago in November is 14:30 UTC."""
    events = _map(ORDER, ZoneInfo("America/Chicago"))
    assert events is not None
    assert events[1].ordered_at == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)


def test_an_explicit_offset_wins_over_the_facility_zone() -> None:
    """ORC-9 with +0100 is read at that offset whatever the facility zone."""
    text = ORDER.replace("|20261122083000\rOBR", "|20261122083000+0100\rOBR")
    events = _map(text, ZoneInfo("America/Chicago"))
    assert events is not None
    assert events[1].ordered_at == datetime(2026, 11, 22, 7, 30, tzinfo=UTC)


def test_several_order_groups_make_several_orders() -> None:
    """Two ORC/OBR groups in one ORM^O01 are two orders for the same patient."""
    text = ORDER + "ORC|NW|PL2|FI2\rOBR|2|PL2|FI2|70450^CT HEAD^CPT4||||||||||||||ACC2\r"
    events = _map(text)
    assert events is not None
    assert [e.accession for e in events[1:]] == ["ACC1", "ACC2"]
    assert events[2].ordered_at == datetime(2026, 11, 22, 8, 30, tzinfo=UTC)  # MSH-7 fallback


def test_accession_falls_back_to_the_filler_number() -> None:
    """With OBR-18 empty the accession is OBR-3 (the filler order number)."""
    events = _map(ORDER.replace("||ACC1\r", "||\r"))
    assert events is not None
    assert events[1].accession == "FI1"


def test_an_unknown_order_control_is_not_mapped() -> None:
    """ORC-1 outside the order-control table changes nothing: None (kept, acknowledged)."""
    assert _map(ORDER.replace("ORC|NW|", "ORC|HD|")) is None


@pytest.mark.parametrize(
    ("text", "error", "location"),
    [
        (ORDER.replace("P1^^^H^MR", ""), MissingField, "PID-3.1"),
        (ORDER.replace("PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r", ""), MissingField, "PID"),
        (ORDER.replace("71250^CT CHEST^CPT4", "^CT CHEST"), MissingField, "OBR-4.1"),
        (ORDER.replace("||ACC1\r", "||\r").replace("|PL1|FI1|", "|PL1||"), MissingField, "OBR-18"),
        (
            ORDER.replace("OBR|1|PL1|FI1|71250^CT CHEST^CPT4||||||||||||||ACC1\r", ""),
            MissingField,
            "OBR",
        ),
        (ORDER.replace("19800101", "1980-01-01"), InvalidValue, "PID-7"),
        (ORDER.replace("|20261122083000\rOBR", "|20261341083000\rOBR"), InvalidValue, "ORC-9"),
    ],
)
def test_unmappable_orders_name_the_field(text: str, error: type, location: str) -> None:
    """A new order missing what it needs raises an error naming the segment and field."""
    with pytest.raises(error) as raised:
        _map(text)
    assert str(raised.value.location) == location


def _events_of(text: str, rules: MappingRules | None = None) -> list:
    events = map_message(parse_message(text), read_header(text), rules or MappingRules())
    assert events is not None
    return events


@pytest.mark.parametrize(
    ("control", "milestone"),
    [("CA", "cancelled"), ("OC", "cancelled"), ("DC", "discontinued"), ("OD", "discontinued")],
)
def test_cancel_and_discontinue_controls_reach_their_end(control: str, milestone: str) -> None:
    """ORC-1 CA/OC end the order as cancelled, DC/OD as discontinued, at ORC-9."""
    text = ORDER.replace("ORC|NW|", f"ORC|{control}|").replace(
        "|20261122083000\rOBR", "|20261122091500\rOBR"
    )
    patient, reached = _events_of(text)
    assert isinstance(patient, PatientUpserted)
    assert isinstance(reached, MilestoneReached)
    assert (reached.accession, reached.milestone.value) == ("ACC1", milestone)
    assert reached.occurred_at == datetime(2026, 11, 22, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("orc5", "milestone"),
    [("SC", "scheduled"), ("IP", "exam_started"), ("CM", "exam_completed")],
)
def test_status_change_maps_orc_5_through_the_table(orc5: str, milestone: str) -> None:
    """ORC-1 SC reads ORC-5 through the order-status table (HL7 table 0038 by default)."""
    text = ORDER.replace("ORC|NW|PL1|FI1||||", f"ORC|SC|PL1|FI1||{orc5}||")
    reached = _events_of(text)[-1]
    assert isinstance(reached, MilestoneReached)
    assert reached.milestone.value == milestone


def test_a_site_code_table_changes_what_a_status_means() -> None:
    """A site whose RIS sends ORC-5 'ZA' for arrival maps it by configuration, not code."""
    rules = MappingRules(order_status={"ZA": Milestone.ARRIVED})
    text = ORDER.replace("ORC|NW|PL1|FI1||||", "ORC|SC|PL1|FI1||ZA||")
    assert _events_of(text, rules)[-1].milestone is Milestone.ARRIVED


@pytest.mark.parametrize(
    ("orc5", "error", "code"),
    [("HD", InvalidValue, ErrorCode.TABLE_VALUE_NOT_FOUND), ("", MissingField, None)],
)
def test_a_status_change_without_a_known_status_names_orc_5(
    orc5: str, error: type, code: ErrorCode | None
) -> None:
    """An ORC-5 missing from the table (or empty) is refused naming ORC-5."""
    text = ORDER.replace("ORC|NW|PL1|FI1||||", f"ORC|SC|PL1|FI1||{orc5}||")
    with pytest.raises(error) as raised:
        _map(text)
    assert str(raised.value.location) == "ORC-5"
    if code is not None:
        assert raised.value.code is code


def test_order_change_carries_the_new_details() -> None:
    """ORC-1 XO maps to OrderChanged with the message's details and ORC-9 as its time."""
    text = ORDER.replace("ORC|NW|", "ORC|XO|").replace(
        "71250^CT CHEST^CPT4", "71260^CT CHEST W^CPT4"
    )
    changed = _events_of(text)[-1]
    assert isinstance(changed, OrderChanged)
    assert changed.details.procedure == CodedValue("71260", "CT CHEST W", "CPT4")
    assert changed.changed_at == datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def test_a_sender_can_have_its_own_accession_field() -> None:
    """Per-sender rules read the accession from OBR-3 for RIS, while others use OBR-18."""
    rules = MappingRules(accession_fields_by_sender={"RIS": ("OBR-3",)})
    assert _events_of(ORDER, rules)[1].accession == "FI1"
    assert _events_of(ORDER)[1].accession == "ACC1"


def test_new_order_details_from_pv1_tq1_and_ipc() -> None:
    """The OMI sample: class and location from PV1, start from TQ1-7, UIDs and ids from IPC."""
    events = _map_file("omi_o23_nw_v251_ipc_ct.hl7")
    assert events is not None
    order = events[1]
    assert order.details.patient_class is PatientClass.EMERGENCY
    assert order.details.requested_procedure_id == "RP240315007"
    assert order.details.study_instance_uid == "1.2.826.0.1.3680043.8.498.24031502170007"
    assert order.scheduled_start == datetime(2024, 3, 15, 2, 17, tzinfo=UTC)
    assert events[0].visit.patient_class is PatientClass.EMERGENCY
    assert (order.details.stations, order.details.station_name) == (("CTED01",), "CT_ED_01")
    assert order.details.scheduled_step_id == "SPS240315007"


def _omi_with_ipc9(ipc9: str) -> str:
    text, _ = decode_message(
        (FIXTURES / "omi_o23_nw_v251_ipc_ct.hl7").read_bytes(), "UNICODE UTF-8"
    )
    return text.replace("|ED_CT^^^GENERAL_HOSP|CTED01", f"|ED_CT^^^GENERAL_HOSP|{ipc9}")


@pytest.mark.parametrize(
    ("ipc9", "stations"),
    [
        ("CT01~CT02", ("CT01", "CT02")),
        ("CT01^^1.2.3^ISO~~CT02~CT01", ("CT01", "CT02")),
        (" CT01 ", ("CT01",)),
        ("", ()),
    ],
)
def test_ipc_9_repetitions_are_the_steps_stations(ipc9: str, stations: tuple[str, ...]) -> None:
    """Each IPC-9 repetition is one Scheduled Station AE Title (its first component), once."""
    events = _map(_omi_with_ipc9(ipc9))
    assert events is not None
    assert events[1].details.stations == stations


@pytest.mark.parametrize("ipc9", ["CT_ROOM_ONE_TOO_LONG", "CT\\X\\01"])
def test_an_ipc_9_that_is_no_ae_title_is_refused_naming_it(ipc9: str) -> None:
    """A station title longer than 16 characters (or with a backslash) is refused at IPC-9."""
    with pytest.raises(InvalidValue) as caught:
        _map(_omi_with_ipc9(ipc9))
    assert str(caught.value.location) == "IPC-9"


def test_a_study_uid_is_made_once_per_accession() -> None:
    """Without IPC-3 the order gets a UID derived from its accession: the same every time."""
    first = _events_of(ORDER)[1].details.study_instance_uid
    again = _events_of(ORDER.replace("X1", "X2"))[1].details.study_instance_uid
    other = _events_of(ORDER.replace("ACC1", "ACC2"))[1].details.study_instance_uid
    assert first == again != other
    assert first.startswith("2.25.") and len(first) <= 64
    rooted = _events_of(ORDER, MappingRules(uid_root="1.2.826.0.1.3680043.10.543"))
    uid = rooted[1].details.study_instance_uid
    assert uid.startswith("1.2.826.0.1.3680043.10.543.") and len(uid) <= 64
