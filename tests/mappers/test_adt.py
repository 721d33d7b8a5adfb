"""ADT messages map to patients, visits, merges and arrivals, field by field, over real samples."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mappers.errors import InvalidValue, MissingField
from mappers.events import (
    PatientArrived,
    PatientClass,
    PatientId,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    Visit,
)
from mappers.hl7v2.adt import map_adt
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.rules import MappingRules
from tests.mappers.samples import FIXTURES, RULES, assert_same_events, at, map_text, read_sample


def _map(text: str, rules: MappingRules = RULES) -> list | None:
    return map_text(map_adt, text, rules)


def _map_file(name: str) -> list | None:
    return _map(read_sample(name))


_at = at


GH = "GENERAL_HOSP"
ED, IP, OP = PatientClass.EMERGENCY, PatientClass.INPATIENT, PatientClass.OUTPATIENT

# Expected events read off each sample by hand.
CASES: dict[str, list] = {
    "adt_a01_v25_admit.hl7": [
        PatientUpserted(
            patient=PatientId("GH0112004", GH),
            name=PersonName(family="HARTMANN", given="WERNER", middle="K"),
            birth_date=date(1952, 1, 4),
            sex="M",
            occurred_at=_at("202403150630"),
            visit=Visit(IP, "3N^304^1", "IP2024031503"),
        )
    ],
    "adt_a01_v23_admit_meditech.hl7": [
        PatientUpserted(
            patient=PatientId("M000200345", GH),  # PID-3 has no type code: the first one
            name=PersonName(family="WHITFIELD", given="EDITH", middle="ROSE"),
            birth_date=date(1945, 6, 12),
            sex="F",
            occurred_at=_at("202404030815"),
            visit=Visit(IP, "2S^214^2", "V00101442"),
        )
    ],
    "adt_a01_v24_zsegment_escapes.hl7": [
        PatientUpserted(
            patient=PatientId("GH0134090", GH),
            name=PersonName(family="D'ARCY-BLAKE", given="SIOBHAN", middle="F"),
            birth_date=date(2001, 8, 22),
            sex="F",
            occurred_at=_at("202404152318"),
            visit=Visit(IP, "ED^RESUS & TRAUMA^1", "IP2024041509"),  # \T\ unescaped
        )
    ],
    "adt_a03_v251_discharge_ip.hl7": [
        PatientUpserted(
            patient=PatientId("GH0099341", GH),  # PID-3.4.1 of an HD with OID
            name=PersonName(family="VASQUEZ", given="ELENA", middle="R"),
            birth_date=date(1966, 3, 30),
            sex="F",
            occurred_at=_at("202404051430"),  # EVN-2, not EVN-6 (14:00)
            visit=Visit(IP, "4W^412^2", "IP2024031301"),
        )
    ],
    "adt_a04_v25_register_ed.hl7": [
        PatientUpserted(
            patient=PatientId("GH0130021", GH),  # the MR repetition, though SSN comes first
            name=PersonName(family="PRZYBYLSKI", given="TOMASZ", middle="J", suffix="JR"),
            birth_date=date(1988, 5, 17),
            sex="M",
            occurred_at=_at("202404022215"),
            visit=Visit(ED, "ED^ED09^A", "ED2024040211"),
        )
    ],
    "adt_a04_v26_register_utf8.hl7": [
        PatientUpserted(
            patient=PatientId("GH0132456", GH),
            name=PersonName(family="Ólafsdóttir", given="Guðrún", middle="Þóra"),
            birth_date=date(1991, 3, 4),
            sex="F",
            occurred_at=_at("202404110801"),
            visit=Visit(OP, "RADOP^US2", "OP2024041102"),
        )
    ],
    "adt_a05_v25_preadmit.hl7": [
        PatientUpserted(
            patient=PatientId("GH0133412", GH),
            name=PersonName(family="MBEKI", given="THANDIWE", prefix="MRS"),
            birth_date=date(1964, 1, 1),
            sex="F",
            occurred_at=_at("202404131500"),
            visit=Visit(PatientClass.OTHER, "SDS^PRE", "PA2024041901"),  # PV1-2 P, preadmit
        )
    ],
    "adt_a08_v231_update.hl7": [
        PatientUpserted(
            patient=PatientId("E4471203", GH),
            name=PersonName(family="GARCIA", given="MARIA", middle="ELENA"),  # legal name
            birth_date=date(1971, 8, 23),
            sex="F",
            occurred_at=_at("202403161015"),
            visit=Visit(OP, "RADOP", "H00457812"),
        )
    ],
    "adt_a08_v231_latin1_update.hl7": [
        PatientUpserted(
            patient=PatientId("GH0133001", GH),
            name=PersonName(family="LEFÈVRE", given="HÉLÈNE", middle="MARIE"),
            birth_date=date(1983, 7, 29),
            sex="F",
            occurred_at=_at("202404121105"),
            visit=Visit(OP, "RADOP^XR1", "OP2024041207"),
        )
    ],
    "adt_a08_v24_update_cerner.hl7": [
        PatientUpserted(
            patient=PatientId("MRN7781230", GH),
            name=PersonName(family="OKONKWO-REYES", given="ADAEZE", middle="N", prefix="MS"),
            birth_date=date(1989, 1, 7),
            sex="F",
            occurred_at=_at("202404041330"),
            visit=Visit(OP, "RADOP^MRI2", "FIN552014"),
        )
    ],
    "adt_a10_v231_arriving_evn2.hl7": [
        PatientUpserted(
            patient=PatientId("WC0045567", "WOMENS_CENTER"),
            name=PersonName(family="LINDQVIST", given="INGRID", middle="M"),
            birth_date=date(1970, 5, 12),
            sex="F",
            occurred_at=_at("202404080744"),
            visit=Visit(OP, "MAMMO^MG1", "WC24040801"),
        ),
        PatientArrived(
            patient=PatientId("WC0045567", "WOMENS_CENTER"),
            occurred_at=_at("202404080744"),  # no EVN-6: EVN-2
            accession="",
        ),
    ],
    "adt_a10_v25_arriving_op.hl7": [
        PatientUpserted(
            patient=PatientId("GH0102287", GH),
            name=PersonName(family="FAIRWEATHER", given="NIGEL", middle="P"),
            birth_date=date(1972, 9, 14),
            sex="M",
            occurred_at=_at("202404071031"),
            visit=Visit(OP, "RADOP^WAIT1", "OP2024040705"),
        ),
        PatientArrived(
            patient=PatientId("GH0102287", GH),
            occurred_at=_at("202404071026"),  # EVN-6, before it was keyed at 10:31
            accession="",
        ),
    ],
    "adt_a11_v24_cancel_admit.hl7": [
        PatientUpserted(
            patient=PatientId("GH0131188", GH),
            name=PersonName(family="ASHWORTH", given="GEOFFREY", middle="L", suffix="III"),
            birth_date=date(1957, 2, 28),
            sex="M",
            occurred_at=_at("202404060915"),
            visit=None,  # the PV1 is the admission being cancelled
        )
    ],
    "adt_a31_v25_update_person.hl7": [
        PatientUpserted(
            patient=PatientId("GH0112004", GH),
            name=PersonName(family="HARTMANN", given="WERNER", middle="K"),
            birth_date=date(1952, 1, 4),
            sex="M",
            occurred_at=_at("202404140930"),
            visit=None,  # no PV1
        )
    ],
    "adt_a40_v25_merge.hl7": [
        PatientUpserted(
            patient=PatientId("GH0130021", GH),
            name=PersonName(family="PRZYBYLSKI", given="TOMASZ", middle="J", suffix="JR"),
            birth_date=date(1988, 5, 17),
            sex="M",
            occurred_at=_at("202404091602"),
            visit=None,
        ),
        PatientsMerged(
            survivor=PatientId("GH0130021", GH),
            merged=PatientId("GH0129555", GH),  # the MR repetition of MRG-1, not the SSN
            occurred_at=_at("202404091602"),
        ),
    ],
    "adt_a40_v231_merge_two_pairs.hl7": [
        PatientUpserted(
            patient=PatientId("GH0066231", GH),
            name=PersonName(family="BELLAMY", given="RUTH", middle="ANN"),
            birth_date=date(1961, 2, 28),
            sex="F",
            occurred_at=_at("202404100200"),
            visit=None,
        ),
        PatientsMerged(
            survivor=PatientId("GH0066231", GH),
            merged=PatientId("GH0066990", GH),
            occurred_at=_at("202404100200"),
        ),
        PatientUpserted(
            patient=PatientId("GH0103378", GH),
            name=PersonName(family="O'NEILL", given="PATRICK", middle="J"),
            birth_date=date(1949, 9, 18),
            sex="M",
            occurred_at=_at("202404100200"),
            visit=Visit(IP, "5E^520^1", "IP2024031402"),
        ),
        PatientsMerged(
            survivor=PatientId("GH0103378", GH),
            merged=PatientId("TMP88120", GH),
            occurred_at=_at("202404100200"),
        ),
    ],
    "lifecycle/01_adt_a04.hl7": [
        PatientUpserted(
            patient=PatientId("LC-MRN-1", GH),
            name=PersonName(family="HALVORSEN", given="MARTA", middle="E"),
            birth_date=date(1967, 8, 23),
            sex="F",
            occurred_at=_at("202603020740"),
            visit=Visit(ED, "ED^ED04^B", "LCV0001"),
        )
    ],
    "lifecycle/04_adt_a10.hl7": [
        PatientUpserted(
            patient=PatientId("LC-MRN-1", GH),
            name=PersonName(family="HALVORSEN", given="MARTA", middle="E"),
            birth_date=date(1967, 8, 23),
            sex="F",
            occurred_at=_at("20260302082530"),
            visit=Visit(ED, "ED^ED04^B", "LCV0001"),
        ),
        PatientArrived(patient=PatientId("LC-MRN-1", GH), occurred_at=_at("202603020825")),
    ],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_adt_sample_maps_field_by_field(name: str) -> None:
    """Each ADT sample yields exactly the patient, visit, merge and arrival events it states."""
    assert_same_events(_map_file(name), CASES[name])


def test_every_adt_sample_is_in_the_table() -> None:
    """No ADT sample in fixtures/hl7 (or its lifecycle set) goes untested."""
    samples = {p.name for p in FIXTURES.glob("adt_*.hl7")}
    samples |= {f"lifecycle/{p.name}" for p in FIXTURES.glob("lifecycle/*_adt_*.hl7")}
    assert samples == set(CASES)


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_lf_and_crlf_segment_separators_map_the_same(separator: str) -> None:
    """A sample sent with LF or CRLF between segments maps to the same events as with CR."""
    text, _ = decode_message((FIXTURES / "adt_a10_v25_arriving_op.hl7").read_bytes(), "ASCII")
    assert_same_events(_map(text.replace("\r", separator)), CASES["adt_a10_v25_arriving_op.hl7"])


ADMIT = (
    "MSH|^~\\&|PAS|H|GW|R|20261122083000||ADT^A01|X1|P|2.5\r"
    "EVN|A01|20261122082000\r"
    "PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r"
    "PV1|1|O|RAD^^^H\r"
)
MERGE = (
    "MSH|^~\\&|PAS|H|GW|R|20261122083000||ADT^A40|X2|P|2.5\r"
    "EVN|A40|20261122082000\r"
    "PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r"
    "MRG|P0^^^H^MR\r"
)


@pytest.mark.parametrize("trigger", ["A02", "A13", "A28", "A34", "A47", "A60"])
def test_other_adt_triggers_are_not_mapped(trigger: str) -> None:
    """ADT triggers outside the mapped set are accepted and change nothing: None."""
    assert _map(ADMIT.replace("ADT^A01", f"ADT^{trigger}")) is None


def test_an_unmapped_trigger_needs_no_pid() -> None:
    """An unmapped trigger is not inspected, so a missing PID is no error there."""
    assert _map(ADMIT.replace("ADT^A01", "ADT^A02").replace("PID|", "ZZZ|")) is None


def test_evn_2_is_read_in_the_facility_zone() -> None:
    """EVN-2 without an offset is facility time: 08:20 in Chicago in November is 14:20 UTC."""
    events = _map(ADMIT, MappingRules(facility_tz=ZoneInfo("America/Chicago")))
    assert events is not None
    assert events[0].occurred_at == datetime(2026, 11, 22, 14, 20, tzinfo=UTC)


def test_without_evn_the_time_is_msh_7() -> None:
    """A message without EVN is dated by MSH-7."""
    events = _map(ADMIT.replace("EVN|A01|20261122082000\r", ""))
    assert events is not None
    assert events[0].occurred_at == datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def test_pid_2_stands_in_for_an_empty_pid_3() -> None:
    """v2.3 senders that fill only PID-2 (external id) still identify the patient."""
    events = _map(ADMIT.replace("PID|1||P1^^^H^MR|", "PID|1|EXT9^^^OLDPAS||"))
    assert events is not None
    assert events[0].patient == PatientId("EXT9", "OLDPAS")


def test_a_merge_without_type_codes_takes_the_first_prior_identifier() -> None:
    """MRG-1 without an MR repetition merges its first valued identifier."""
    events = _map(MERGE.replace("MRG|P0^^^H^MR", "MRG|~Q7^^^H~Q8^^^H"))
    assert events is not None
    assert events[1] == PatientsMerged(
        PatientId("P1", "H"), PatientId("Q7", "H"), datetime(2026, 11, 22, 8, 20, tzinfo=UTC)
    )


def test_an_arrival_without_evn_is_dated_by_msh_7() -> None:
    """A10 without EVN: both events take MSH-7."""
    text = ADMIT.replace("ADT^A01", "ADT^A10").replace("EVN|A01|20261122082000\r", "")
    events = _map(text)
    assert events is not None
    assert events[1] == PatientArrived(
        PatientId("P1", "H"), datetime(2026, 11, 22, 8, 30, tzinfo=UTC), ""
    )


@pytest.mark.parametrize(
    ("text", "error", "location"),
    [
        (ADMIT.replace("PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r", ""), MissingField, "PID"),
        (ADMIT.replace("P1^^^H^MR", ""), MissingField, "PID-3.1"),
        (ADMIT.replace("19800101", "1980-01-01"), InvalidValue, "PID-7"),
        (ADMIT.replace("|20261122082000\r", "|20261122256000\r"), InvalidValue, "EVN-2"),
        (
            ADMIT.replace("EVN|A01|20261122082000\r", "").replace("|20261122083000|", "||"),
            MissingField,
            "MSH-7",
        ),
        (
            ADMIT.replace("ADT^A01", "ADT^A10").replace(
                "EVN|A01|20261122082000", "EVN|A10|20261122082000||||yesterday"
            ),
            InvalidValue,
            "EVN-6",
        ),
        (MERGE.replace("MRG|P0^^^H^MR\r", ""), MissingField, "MRG-1.1"),
        (MERGE.replace("MRG|P0^^^H^MR", "MRG||||P0"), MissingField, "MRG-1.1"),
        (MERGE.replace("PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r", ""), MissingField, "PID"),
        (MERGE + "PID|2||P2^^^H^MR||ROE^RITA\r", MissingField, "MRG(2)-1.1"),
        (MERGE + "PID|2||||ROE^RITA\rMRG|P3^^^H^MR\r", MissingField, "PID(2)-3.1"),
    ],
)
def test_unmappable_adt_names_the_field(text: str, error: type, location: str) -> None:
    """An ADT missing what it needs raises an error naming the segment and field."""
    with pytest.raises(error) as raised:
        _map(text)
    assert str(raised.value.location) == location
