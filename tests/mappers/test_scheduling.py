"""SIU messages map to bookings, cancellations, no-shows and milestones, field by field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mappers.errors import ErrorCode, InvalidValue, MissingField
from mappers.events import (
    AppointmentCancelled,
    Milestone,
    MilestoneReached,
    PatientClass,
    PatientId,
    PatientNoShow,
    PatientUpserted,
    PersonName,
    ProcedureScheduled,
    Visit,
)
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.rules import NO_SHOW, MappingRules
from mappers.hl7v2.scheduling import map_siu
from tests.mappers.samples import FIXTURES, RULES, assert_same_events, at, map_text, read_sample


def _map(text: str, rules: MappingRules = RULES) -> list | None:
    return map_text(map_siu, text, rules)


def _map_file(name: str) -> list | None:
    return _map(read_sample(name))


_at = at


GH = "GENERAL_HOSP"
ED, IP, OP = PatientClass.EMERGENCY, PatientClass.INPATIENT, PatientClass.OUTPATIENT


def _patient(
    pid: str, name: PersonName, born: date, sex: str, *, at: str, visit: Visit | None
) -> PatientUpserted:
    return PatientUpserted(PatientId(pid, GH), name, born, sex, _at(at), visit)


# Expected events read off each sample by hand.
CASES: dict[str, list] = {
    "siu_s12_v24_booking_mr.hl7": [
        _patient(
            "MRN7781999",
            PersonName("TANAKA", "HIROSHI"),
            date(1980, 8, 15),
            "M",
            at="20240316140210",
            visit=Visit(OP, "RADOP^MRI1", ""),
        ),
        ProcedureScheduled(
            accession="ACC240316010",  # SCH-27
            start=_at("202403201400"),  # AIS-4
            duration_minutes=45,
            resource="MRI1",  # AIL-3 room, before the AIG scanner MR1
            booked_at=_at("20240316140210"),
            patient=PatientId("MRN7781999", GH),
        ),
        MilestoneReached("ACC240316010", Milestone.SCHEDULED, _at("20240316140210")),
    ],
    "siu_s12_v251_booking_ct_tq1.hl7": [
        _patient(
            "GH0136620",
            PersonName("ABERNATHY", "COLE", "D"),
            date(1976, 9, 9),
            "M",
            at="20240420101244",
            visit=Visit(OP, "RADOP^CT2", "OP2024042001"),
        ),
        ProcedureScheduled(
            accession="ACC240420101",  # SCH-27.1 of ACC240420101^RIS
            start=_at("202404220915"),  # TQ1-7: AIS-4 and SCH-11 are empty
            duration_minutes=60,  # AIS-7 1 in AIS-8 h
            resource="CT_ROOM_2",
            booked_at=_at("20240420101244"),
            patient=PatientId("GH0136620", GH),
        ),
        MilestoneReached("ACC240420101", Milestone.SCHEDULED, _at("20240420101244")),
    ],
    "siu_s13_v24_reschedule_mr.hl7": [
        _patient(
            "MRN7781444",
            PersonName("FERREIRA", "JOAO", "P"),
            date(1993, 3, 7),
            "M",
            at="20240421083017",
            visit=Visit(OP, "RADOP^MRI2", "FIN553090"),
        ),
        ProcedureScheduled(
            accession="ACC240421102",
            start=_at("202404251600"),
            duration_minutes=45,
            resource="MRI2",
            booked_at=_at("20240421083017"),
            patient=PatientId("MRN7781444", GH),
        ),
        MilestoneReached("ACC240421102", Milestone.SCHEDULED, _at("20240421083017")),
    ],
    "siu_s14_v25_modify_us.hl7": [
        _patient(
            "GH0137001",
            PersonName("NAKASHIMA", "YUKI"),
            date(1999, 2, 15),
            "F",
            at="20240422141502",
            visit=Visit(IP, "4W^418^1", "IP2024042201"),
        ),
        ProcedureScheduled(
            accession="ACC240422103",
            start=_at("202404240930"),  # SCH-11.4: AIS-4 is empty
            duration_minutes=30,  # SCH-9/SCH-10: AIS-7 is empty
            resource="US3",  # AIG-3: no AIL
            booked_at=_at("20240422141502"),
            patient=PatientId("GH0137001", GH),
        ),
        # SCH-25 "Pending" is not in the default table: nothing more.
    ],
    "siu_s14_v24_status_noshow.hl7": [
        _patient(
            "MRN7782555",
            PersonName("BRANDT", "OSKAR"),
            date(1942, 3, 30),
            "M",
            at="20240428170010",
            visit=Visit(OP, "RADOP^NM1", "FIN554090"),
        ),
        ProcedureScheduled(
            accession="ACC240428109",
            start=_at("202404281500"),
            duration_minutes=30,  # 0.5 HR
            resource="NM1",
            booked_at=_at("20240428170010"),
            patient=PatientId("MRN7782555", GH),
        ),
        PatientNoShow("ACC240428109", _at("20240428170010")),  # SCH-25 NOSHOW
    ],
    "siu_s14_v251_status_arrived.hl7": [
        _patient(
            "GH0137802",
            PersonName("OYELARAN", "FOLAKE", "B"),
            date(1979, 1, 5),
            "F",
            at="202404270752",  # EVN-2, not MSH-7 07:52:18
            visit=Visit(OP, "RADOP^WAIT2", "OP2024042702"),
        ),
        ProcedureScheduled(
            accession="ACC240427108",
            start=_at("202404270800"),
            duration_minutes=30,
            resource="MG2",
            booked_at=_at("202404270752"),
            patient=PatientId("GH0137802", GH),
        ),
        MilestoneReached("ACC240427108", Milestone.ARRIVED, _at("202404270752")),
    ],
    "siu_s15_v24_cancel_ct.hl7": [
        _patient(
            "MRN7782003",
            PersonName("HOLLIS", "GRANT", "W"),
            date(1968, 4, 11),
            "M",
            at="20240423111209",
            visit=Visit(OP, "RADOP^CT1", "FIN553301"),
        ),
        AppointmentCancelled(
            accession="ACC240423104",
            occurred_at=_at("20240423111209"),
            reason="Patient cancelled - symptoms resolved",  # SCH-6.2
        ),
        # SCH-25 CANCELLED is not in the default table: nothing more.
    ],
    "siu_s26_v25_noshow_mr.hl7": [
        _patient(
            "MRN7782110",
            PersonName("KOWALSKI", "PIOTR", "A"),
            date(1955, 8, 22),
            "M",
            at="20240424171505",
            visit=Visit(OP, "RADOP^MRI1", "FIN553512"),
        ),
        PatientNoShow("ACC240424105", _at("20240424171505")),  # once, though SCH-25 says so too
    ],
    "siu_s12_v23_booking_obr_xr.hl7": [
        _patient(
            "M000123456",
            PersonName("BRENNAN", "THOMAS", "PATRICK"),
            date(1958, 2, 14),
            "M",
            at="20240425090511",
            visit=Visit(OP, "RADOP^XR4", "V00102290"),
        ),
        ProcedureScheduled(
            accession="ACC240425106",  # no SCH-27 in v2.3: OBR-18 of the carried order
            start=_at("202404261000"),
            duration_minutes=15,
            resource="XR_ROOM_4",  # AIL-3 with a point of care only
            booked_at=_at("20240425090511"),
            patient=PatientId("M000123456", GH),
        ),
        MilestoneReached("ACC240425106", Milestone.SCHEDULED, _at("20240425090511")),
    ],
    "siu_s12_v26_booking_utf8_mr.hl7": [
        _patient(
            "GH0137555",
            PersonName("Nguyễn", "Thị Mai"),
            date(1987, 6, 19),
            "F",
            at="20240426094233",
            visit=Visit(OP, "RADOP^MRI1", "OP2024042603"),
        ),
        ProcedureScheduled(
            accession="ACC240426107",
            start=_at("202404301115"),
            duration_minutes=40,  # UCUM "min"
            resource="MRI1",
            booked_at=_at("20240426094233"),
            patient=PatientId("GH0137555", GH),
        ),
        MilestoneReached("ACC240426107", Milestone.SCHEDULED, _at("20240426094233")),  # Booked
    ],
    "siu_s12_v231_booking_zsegment_pt.hl7": [
        _patient(
            "GH0138010",
            PersonName("QUINTERO", "ALMA", "L"),
            date(1960, 7, 17),
            "F",
            at="20240429101530",
            visit=None,  # no PV1
        ),
        ProcedureScheduled(
            accession="ACC240429110",  # OBR-18 empty: OBR-3
            start=_at("202405020830"),
            duration_minutes=90,  # no unit: minutes
            resource="GE DISCOVERY MI PET/CT",  # AIG-3 text, no code
            booked_at=_at("20240429101530"),
            patient=PatientId("GH0138010", GH),
        ),
        MilestoneReached("ACC240429110", Milestone.SCHEDULED, _at("20240429101530")),
    ],
    "lifecycle/03_siu_s12.hl7": [
        _patient(
            "LC-MRN-1",
            PersonName("HALVORSEN", "MARTA", "E"),
            date(1967, 8, 23),
            "F",
            at="202603020805",
            visit=Visit(ED, "ED^ED04^B", "LCV0001"),
        ),
        ProcedureScheduled(
            accession="LC0001",
            start=_at("202603020830"),
            duration_minutes=20,
            resource="CT_ROOM_1",
            booked_at=_at("202603020805"),
            patient=PatientId("LC-MRN-1", GH),
        ),
        MilestoneReached("LC0001", Milestone.SCHEDULED, _at("202603020805")),
    ],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_siu_sample_maps_field_by_field(name: str) -> None:
    """Each SIU sample yields exactly the patient and appointment events it states."""
    assert_same_events(_map_file(name), CASES[name])


def test_every_siu_sample_is_in_the_table() -> None:
    """No SIU sample in fixtures/hl7 (or its lifecycle set) goes untested."""
    samples = {p.name for p in FIXTURES.glob("siu_*.hl7")}
    samples |= {f"lifecycle/{p.name}" for p in FIXTURES.glob("lifecycle/*_siu_*.hl7")}
    assert samples == set(CASES)


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_lf_and_crlf_segment_separators_map_the_same(separator: str) -> None:
    """A sample sent with LF or CRLF between segments maps to the same events as with CR."""
    name = "siu_s13_v24_reschedule_mr.hl7"
    text, _ = decode_message((FIXTURES / name).read_bytes(), "ASCII")
    assert_same_events(_map(text.replace("\r", separator)), CASES[name])


BOOKING = (
    "MSH|^~\\&|RIS|H|GW|R|20261122083000||SIU^S12|X1|P|2.5\r"
    "SCH|A1|A1||||NEW|||||||||||||||||||BOOKED|PL1|ACC1\r"
    "PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r"
    "RGS|1\r"
    "AIS|1||71250^CT CHEST^CPT4|20261123090000|||30|MIN\r"
    "AIL|1||CT^CT_ROOM_9\r"
)


def _one(events: list | None, kind: type) -> object:
    assert events is not None
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("trigger", ["S16", "S17", "S18", "S23", "S24"])
def test_other_siu_triggers_are_not_mapped(trigger: str) -> None:
    """SIU triggers outside S12-S15 and S26 are accepted and change nothing: None."""
    assert _map(BOOKING.replace("SIU^S12", f"SIU^{trigger}")) is None


def test_without_pid_there_is_no_patient() -> None:
    """An SIU without PID books the appointment with no patient and upserts none."""
    events = _map(BOOKING.replace("PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r", ""))
    assert events is not None
    assert [type(e) for e in events] == [ProcedureScheduled, MilestoneReached]
    assert events[0].patient is None


def test_placer_order_number_is_not_the_accession() -> None:
    """SCH-26 alone does not identify the order: the accession is missing, naming SCH-27."""
    with pytest.raises(MissingField) as raised:
        _map(BOOKING.replace("|PL1|ACC1\r", "|PL1|\r"))
    assert str(raised.value.location) == "SCH-27"


def test_the_senders_accession_fields_apply_to_a_carried_order() -> None:
    """Without SCH-27, a site rule for the sender picks the accession from the carried OBR."""
    text = BOOKING.replace("|PL1|ACC1\r", "|PL1|\r") + "OBR|1|PL1|FI1|71250||||||||||||||ACC7\r"
    rules = MappingRules(accession_fields_by_sender={"RIS": ("OBR-3",)})
    assert _one(_map(text, rules), ProcedureScheduled).accession == "FI1"
    assert _one(_map(text), ProcedureScheduled).accession == "ACC7"  # default: OBR-18


def test_site_schedule_status_codes_are_data() -> None:
    """A site table maps its own SCH-25 codes: CHECKEDIN to arrived, DNA to a no-show."""
    rules = MappingRules(schedule_status={"CHECKEDIN": "arrived", "DNA": NO_SHOW})
    checked_in = _map(BOOKING.replace("|BOOKED|", "|CheckedIn|"), rules)
    assert _one(checked_in, MilestoneReached) == MilestoneReached(
        "ACC1", Milestone.ARRIVED, datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
    )
    missed = _map(BOOKING.replace("|BOOKED|", "|DNA|"), rules)
    assert _one(missed, PatientNoShow) == PatientNoShow(
        "ACC1", datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
    )


def test_a_cancellation_reason_falls_back_to_its_code() -> None:
    """S15 with an SCH-6 code and no text gives the code as the reason."""
    text = BOOKING.replace("SIU^S12", "SIU^S15").replace("|NEW|", "|PTCANC|")
    assert _one(_map(text), AppointmentCancelled).reason == "PTCANC"


@pytest.mark.parametrize(
    ("duration", "unit", "minutes"),
    [("30", "MIN", 30), ("2", "HRS", 120), ("1.25", "h", 75), ("2700", "SEC", 45), ("20", "", 20)],
)
def test_durations_are_whole_minutes(duration: str, unit: str, minutes: int) -> None:
    """AIS-7 in AIS-8 units (minutes, hours, seconds; minutes when blank) is whole minutes."""
    text = BOOKING.replace("|||30|MIN\r", f"|||{duration}|{unit}\r")
    assert _one(_map(text), ProcedureScheduled).duration_minutes == minutes


def test_no_duration_anywhere_is_none() -> None:
    """Without AIS-7 and SCH-9 the duration is unknown: None."""
    text = BOOKING.replace("|||30|MIN\r", "\r")
    assert _one(_map(text), ProcedureScheduled).duration_minutes is None


def test_start_is_read_in_the_facility_zone() -> None:
    """AIS-4 without an offset is facility time: 09:00 in Chicago in November is 15:00 UTC."""
    events = _map(BOOKING, MappingRules(facility_tz=ZoneInfo("America/Chicago")))
    scheduled = _one(events, ProcedureScheduled)
    assert scheduled.start == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert scheduled.booked_at == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)


def test_no_room_or_device_leaves_the_resource_empty() -> None:
    """Without AIL and AIG the resource is "", never the procedure of AIS-3."""
    assert (
        _one(_map(BOOKING.replace("AIL|1||CT^CT_ROOM_9\r", "")), ProcedureScheduled).resource == ""
    )


@pytest.mark.parametrize(
    ("text", "error", "location"),
    [
        (BOOKING.replace("SCH|", "ZCH|"), MissingField, "SCH"),
        (BOOKING.replace("|PL1|ACC1\r", "\r"), MissingField, "SCH-27"),
        (BOOKING.replace("P1^^^H^MR", ""), MissingField, "PID-3.1"),
        (BOOKING.replace("19800101", "01/01/1980"), InvalidValue, "PID-7"),
        (BOOKING.replace("|20261123090000|", "||"), MissingField, "AIS-4"),
        (BOOKING.replace("|20261123090000|", "|tomorrow|"), InvalidValue, "AIS-4"),
        (BOOKING.replace("|||30|MIN\r", "|||half an hour|MIN\r"), InvalidValue, "AIS-7"),
        (BOOKING.replace("|||30|MIN\r", "|||-5|MIN\r"), InvalidValue, "AIS-7"),
        (BOOKING.replace("|||30|MIN\r", "|||1e400|MIN\r"), InvalidValue, "AIS-7"),
        (BOOKING.replace("|||30|MIN\r", "|||3|FORTNIGHT\r"), InvalidValue, "AIS-8"),
        (BOOKING.replace("|20261122083000|", "|20261322083000|"), InvalidValue, "MSH-7"),
        (
            BOOKING.replace("|||30|MIN\r", "\r").replace("|NEW|||||", "|NEW|||x|MIN|"),
            InvalidValue,
            "SCH-9",
        ),
    ],
)
def test_unmappable_siu_names_the_field(text: str, error: type, location: str) -> None:
    """An SIU missing what it needs raises an error naming the segment and field."""
    with pytest.raises(error) as raised:
        _map(text)
    assert str(raised.value.location) == location


def test_an_unknown_duration_unit_is_a_table_error() -> None:
    """AIS-8 outside the units of time is reported as HL7 error 103, table value not found."""
    with pytest.raises(InvalidValue) as raised:
        _map(BOOKING.replace("|||30|MIN\r", "|||3|KG\r"))
    assert raised.value.code is ErrorCode.TABLE_VALUE_NOT_FOUND
