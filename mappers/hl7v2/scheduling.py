"""SIU (HL7 v2.5 chapter 10): appointments booked, moved, cancelled and missed.

S12 new booking, S13 reschedule and S14 modification state the appointment as it is now;
S15 cancels it; S26 records a no-show. Other SIU triggers are accepted and not mapped (None).

Choices, where chapter 10 leaves room:

- Accession: SCH-27 filler order number (EI.1, v2.5 10.6.2.27), since the RIS fills the
  order and its filler number is the accession, as OBR-3 is for orders. Without SCH-27 (it
  came in v2.4), an ORC/OBR the sender carries in the SIU is read with the sender's accession
  fields (`MappingRules.accession_fields_for`). SCH-26, the placer order number, is not used:
  it is the ordering system's key (ORC-2), which never becomes an order's accession, so an
  appointment filed under it would never meet its order.
- Start: AIS-4 of the first AIS (the booked service), else SCH-11.4 (TQ start, v2.3-2.4),
  else TQ1-7 (v2.5 on).
- Duration in whole minutes: AIS-7 in AIS-8 units, else SCH-9 in SCH-10 units; minutes when
  no unit is given (chapter 10 defaults durations to minutes).
- Resource, the room or device booked: the room (PL.2) of the first AIL-3, else its point of
  care (PL.1); else the first AIG-3 resource id (code, else text); else "". AIS-3 is the
  procedure, not where it happens, so it is never taken as the resource.
- Booking time: EVN-2 when the sender adds an EVN (SIU has none by the standard), else MSH-7.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo

from mappers.errors import ErrorCode, InvalidValue, MissingField
from mappers.events import (
    AppointmentCancelled,
    Event,
    Milestone,
    MilestoneReached,
    PatientId,
    PatientNoShow,
    PatientUpserted,
    ProcedureScheduled,
)
from mappers.hl7v2.datatypes import first_value, read_patient_id, read_visit, read_xpn
from mappers.hl7v2.er7 import Message, Segment
from mappers.hl7v2.header import Header, segment_or_missing
from mappers.hl7v2.rules import NO_SHOW, MappingRules
from mappers.hl7v2.timestamps import parse_dt, parse_dtm

_BOOKING_TRIGGERS = frozenset({"S12", "S13", "S14"})
_CANCEL_TRIGGER = "S15"
_NO_SHOW_TRIGGER = "S26"

# Duration units (AIS-8, SCH-10: CE, ISO+ or ANSI codes) -> minutes per unit. "M" is the
# minute letter of HL7's own TQ durations (M<n>, chapter 2A TQ).
_MINUTES_PER_UNIT: dict[str, float] = {
    "": 1.0,
    "M": 1.0,
    "MIN": 1.0,
    "MINS": 1.0,
    "MINUTE": 1.0,
    "MINUTES": 1.0,
    "H": 60.0,
    "HR": 60.0,
    "HRS": 60.0,
    "HOUR": 60.0,
    "HOURS": 60.0,
    "S": 1 / 60,
    "SEC": 1 / 60,
    "SECOND": 1 / 60,
    "SECONDS": 1 / 60,
}


def map_siu(message: Message, header: Header, rules: MappingRules) -> list[Event] | None:
    """The appointment events an SIU message proves; None for unmapped triggers.

    Raises:
        MissingField: no SCH, no accession, no start for a booking, an empty PID-3 in a PID.
        InvalidValue: a date/time or duration that is not one, or an unknown duration unit.
    """
    trigger = header.trigger_event
    if trigger not in _BOOKING_TRIGGERS and trigger not in (_CANCEL_TRIGGER, _NO_SHOW_TRIGGER):
        return None
    tz = rules.facility_tz
    sch = segment_or_missing(message, "SCH")
    booked_at = _booked_at(message, header, tz)
    accession = _accession(message, sch, header, rules)

    events: list[Event] = []
    pid = message.segment("PID")
    patient = None
    if pid is not None:
        upserted = _patient(pid, message.segment("PV1"), booked_at)
        patient = upserted.patient
        events.append(upserted)

    if trigger in _BOOKING_TRIGGERS:
        events.append(
            _scheduled(
                message, sch, accession=accession, booked_at=booked_at, patient=patient, tz=tz
            )
        )
    elif trigger == _CANCEL_TRIGGER:
        # SCH-6 event reason (CE): why the appointment was cancelled; its text, else its code.
        reason = sch.value(6, 2).strip() or sch.value(6, 1).strip()
        events.append(AppointmentCancelled(accession, booked_at, reason))
    else:
        events.append(PatientNoShow(accession, booked_at))

    # SCH-25 filler status (table 0278) through the site's table: a milestone or a no-show.
    status = rules.schedule_status.get(sch.value(25, 1).strip().upper())
    if status == NO_SHOW:
        if trigger != _NO_SHOW_TRIGGER:
            events.append(PatientNoShow(accession, booked_at))
    elif status:
        events.append(MilestoneReached(accession, Milestone(status), booked_at))
    return events


def _booked_at(message: Message, header: Header, tz: tzinfo) -> datetime:
    """EVN-2 when present, else MSH-7.

    Raises:
        MissingField: both are empty.
        InvalidValue: either is not a date/time.
    """
    evn = message.segment("EVN")
    booked = parse_dtm(evn.value(2, 1), tz, "EVN-2") if evn else None
    booked = booked or parse_dtm(header.sent_at, tz, "MSH-7")
    if booked is None:
        raise MissingField("booking time is empty (looked in EVN-2, MSH-7)", "MSH-7")
    return booked


def _accession(message: Message, sch: Segment, header: Header, rules: MappingRules) -> str:
    """SCH-27.1, else the sender's accession fields over an ORC/OBR the SIU carries.

    Raises:
        MissingField: none is valued.
    """
    accession = sch.value(27, 1).strip()
    if accession:
        return accession
    segments = {name: message.segment(name) for name in ("ORC", "OBR", "IPC")}
    accession = first_value(segments, rules.accession_fields_for(header.sending_application))
    if not accession:
        raise MissingField("accession number is empty (filler order number)", "SCH-27")
    return accession


def _patient(pid: Segment, pv1: Segment | None, at: datetime) -> PatientUpserted:
    """The patient and visit the SIU's PID and PV1 describe.

    Raises:
        MissingField: PID-3 (and PID-2) are empty.
        InvalidValue: PID-7 is not a date.
    """
    patient = read_patient_id(pid)
    if patient is None:
        raise MissingField("patient identifier is empty", "PID-3.1")
    return PatientUpserted(
        patient=patient,
        name=read_xpn(pid.field(5)),
        birth_date=parse_dt(pid.value(7, 1), "PID-7"),
        sex=pid.value(8).strip().upper(),
        occurred_at=at,
        visit=read_visit(pv1),
    )


def _scheduled(
    message: Message,
    sch: Segment,
    *,
    accession: str,
    booked_at: datetime,
    patient: PatientId | None,
    tz: tzinfo,
) -> ProcedureScheduled:
    """The appointment as booked: start, duration and resource.

    Raises:
        MissingField: no start time anywhere.
        InvalidValue: a start or duration of the wrong form.
    """
    ais = message.segment("AIS")
    tq1 = message.segment("TQ1")
    start = (
        (parse_dtm(ais.value(4, 1), tz, "AIS-4") if ais else None)
        or parse_dtm(sch.value(11, 4, 1), tz, "SCH-11.4")
        or (parse_dtm(tq1.value(7, 1), tz, "TQ1-7") if tq1 else None)
    )
    if start is None:
        raise MissingField("appointment start is empty (looked in AIS-4, SCH-11.4, TQ1-7)", "AIS-4")

    if ais is not None and ais.value(7).strip():
        duration = _minutes(ais.value(7), _unit(ais, 8), "AIS-7", "AIS-8")
    elif sch.value(9).strip():
        duration = _minutes(sch.value(9), _unit(sch, 10), "SCH-9", "SCH-10")
    else:
        duration = None

    return ProcedureScheduled(
        accession=accession,
        start=start,
        duration_minutes=duration,
        resource=_resource(message),
        booked_at=booked_at,
        patient=patient,
    )


def _unit(segment: Segment, field: int) -> str:
    """A CE unit's code, else its text, upper-cased."""
    return (segment.value(field, 1).strip() or segment.value(field, 2).strip()).upper()


def _minutes(value: str, unit: str, value_at: str, unit_at: str) -> int:
    """A duration in whole minutes.

    Raises:
        InvalidValue: the value is not a non-negative number, or the unit is not a time unit.
    """
    factor = _MINUTES_PER_UNIT.get(unit)
    if factor is None:
        raise InvalidValue(
            f"duration unit {unit!r} is not a unit of time",
            unit_at,
            code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    try:
        amount = float(value.strip())
    except ValueError as exc:
        raise InvalidValue(f"duration {value.strip()!r} is not a number", value_at) from exc
    minutes = amount * factor
    if not (math.isfinite(minutes) and minutes >= 0):
        raise InvalidValue(f"duration {value.strip()!r} is not a non-negative number", value_at)
    return round(minutes)


def _resource(message: Message) -> str:
    """The room (AIL-3.2, else AIL-3.1) or device (AIG-3.1, else AIG-3.2) booked; "" if none."""
    ail = message.segment("AIL")
    if ail is not None:
        room = ail.value(3, 2).strip() or ail.value(3, 1).strip()
        if room:
            return room
    aig = message.segment("AIG")
    if aig is not None:
        return aig.value(3, 1).strip() or aig.value(3, 2).strip()
    return ""
