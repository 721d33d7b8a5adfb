"""ADT (HL7 v2.5 chapter 3): patient identity, demographics and visit; merges; arrivals.

Mapped triggers: A01 admit, A03 discharge, A04 register, A05 pre-admit, A08 update,
A11 cancel admit and A31 update person give the patient as the PID and PV1 describe it;
A10 patient arriving (3.3.10) adds an arrival; A40 merge patient identifier list (3.3.40) a
merge per PID/MRG pair. Other ADT triggers are accepted and not mapped (None).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from mappers.errors import MissingField
from mappers.events import Event, PatientArrived, PatientId, PatientsMerged, PatientUpserted
from mappers.hl7v2.datatypes import read_cx, read_patient_id, read_visit, read_xpn
from mappers.hl7v2.er7 import Message, Segment
from mappers.hl7v2.header import Header, segment_or_missing
from mappers.hl7v2.rules import MappingRules
from mappers.hl7v2.timestamps import parse_dt, parse_dtm

# Triggers that only (re)state who the patient is and, with a PV1, their visit.
_PATIENT_TRIGGERS = frozenset({"A01", "A03", "A04", "A05", "A08", "A11", "A31"})
# A11 cancels the admission its PV1 describes (3.3.11): that visit is not the patient's.
_VISIT_CANCELLED = frozenset({"A11"})


def map_adt(message: Message, header: Header, rules: MappingRules) -> list[Event] | None:
    """The patient (and merge or arrival) an ADT message proves; None for unmapped triggers.

    Raises:
        MissingField: no PID, an empty PID-3, an A40 without MRG-1, or no event time at all.
        InvalidValue: a date/time field that is not one.
    """
    trigger = header.trigger_event
    if trigger not in _PATIENT_TRIGGERS and trigger not in ("A10", "A40"):
        return None
    tz = rules.facility_tz
    evn = message.segment("EVN")
    recorded_at = _recorded_at(evn, header, tz)
    if trigger == "A40":
        return _map_merge(message, recorded_at)

    pid = segment_or_missing(message, "PID")
    with_visit = trigger not in _VISIT_CANCELLED
    upserted = _patient(pid, 1, message.segment("PV1") if with_visit else None, recorded_at)
    if trigger != "A10":
        return [upserted]
    # EVN-6 is when the patient actually arrived; EVN-2 when the RIS recorded it (3.4.1.6).
    arrived_at = (parse_dtm(evn.value(6, 1), tz, "EVN-6") if evn else None) or recorded_at
    return [upserted, PatientArrived(patient=upserted.patient, occurred_at=arrived_at)]


def _recorded_at(evn: Segment | None, header: Header, tz: tzinfo) -> datetime:
    """EVN-2 recorded date/time, else MSH-7.

    Raises:
        MissingField: both are empty.
        InvalidValue: either is not a date/time.
    """
    recorded = parse_dtm(evn.value(2, 1), tz, "EVN-2") if evn else None
    recorded = recorded or parse_dtm(header.sent_at, tz, "MSH-7")
    if recorded is None:
        raise MissingField("event time is empty (looked in EVN-2, MSH-7)", "MSH-7")
    return recorded


def _patient(pid: Segment, seq: int, pv1: Segment | None, at: datetime) -> PatientUpserted:
    """The PatientUpserted of one PID (the `seq`-th) and the PV1 that goes with it.

    Raises:
        MissingField: PID-3 (and PID-2) are empty.
        InvalidValue: PID-7 is not a date.
    """
    patient = read_patient_id(pid)
    if patient is None:
        raise MissingField("patient identifier is empty", f"PID({seq})-3.1")
    return PatientUpserted(
        patient=patient,
        name=read_xpn(pid.field(5)),
        birth_date=parse_dt(pid.value(7, 1), f"PID({seq})-7"),
        sex=pid.value(8).strip().upper(),
        occurred_at=at,
        visit=read_visit(pv1),
    )


def _map_merge(message: Message, at: datetime) -> list[Event]:
    """A40: each PID is a survivor and the MRG after it names the identifier merged into it.

    Raises:
        MissingField: no PID, a PID without MRG-1, or an empty PID-3.
    """
    # ADT_A39 structure (3.3.40): {PID, [PD1], MRG, [PV1]}, repeated once per merge.
    pairs: list[tuple[Segment, Segment | None, Segment | None]] = []
    for segment in message.segments:
        if segment.name == "PID":
            pairs.append((segment, None, None))
        elif pairs and segment.name == "MRG" and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], segment, pairs[-1][2])
        elif pairs and segment.name == "PV1" and pairs[-1][2] is None:
            pairs[-1] = (pairs[-1][0], pairs[-1][1], segment)
    if not pairs:
        raise MissingField("required segment PID is missing", "PID")

    events: list[Event] = []
    for seq, (pid, mrg, pv1) in enumerate(pairs, start=1):
        survivor = _patient(pid, seq, pv1, at)
        merged = _merged_id(mrg) if mrg else None
        if merged is None:
            raise MissingField("prior patient identifier is empty", f"MRG({seq})-1.1")
        events.append(survivor)
        events.append(PatientsMerged(survivor=survivor.patient, merged=merged, occurred_at=at))
    return events


def _merged_id(mrg: Segment) -> PatientId | None:
    """MRG-1 prior patient identifier list: the MR repetition, else the first valued one."""
    candidates = [rep for rep in mrg.repetitions(1) if rep.value(1).strip()]
    for rep in candidates:
        if rep.value(5).strip().upper() == "MR":
            return read_cx(rep)
    return read_cx(candidates[0]) if candidates else None
