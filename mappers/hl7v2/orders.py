"""ORM^O01 and OMI^O23 (HL7 v2.5 chapter 4, IHE Scheduled Workflow RAD-2/RAD-4): orders.

A message holds one or more order groups: an ORC, then its OBR (and in OMI its IPC and TQ1).
ORC-1 says what the group does to its order, through the site's order-control table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mappers.errors import ErrorCode, InvalidValue, MissingField
from mappers.events import (
    Event,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientId,
    PatientUpserted,
    Visit,
)
from mappers.hl7v2.datatypes import (
    first_value,
    read_ce,
    read_patient_id,
    read_visit,
    read_xcn,
    read_xpn,
)
from mappers.hl7v2.er7 import Message, Segment
from mappers.hl7v2.header import Header
from mappers.hl7v2.rules import MappingRules, OrderAction, study_uid_for
from mappers.hl7v2.timestamps import parse_dt, parse_dtm

# DICOM modality codes (PS3.3 C.7.3.1.1.1) that an OBR-24 may carry directly; sites that put
# a department code there ("RAD") leave the modality to IPC-5 or to what DICOM reports.
MAX_AE_TITLE = 16  # DICOM AE (PS3.5 6.2)
MAX_STATIONS = 32  # what orders.scheduled_stations holds, "\\"-separated
DICOM_MODALITIES: frozenset[str] = frozenset(
    {"CR", "CT", "DX", "ES", "IO", "MG", "MR", "NM", "OT", "PT", "PX", "RF", "RG", "US", "XA", "XC"}
)


@dataclass(slots=True)
class OrderGroup:
    """The segments of one order within the message, with their occurrence numbers."""

    orc: Segment
    orc_seq: int
    obr: Segment | None = None
    obr_seq: int = 0
    extras: dict[str, Segment] = field(default_factory=dict)

    def at(self, name: str, position: str) -> str:
        """A location in this group for error messages: `OBR(2)-18` for the second OBR."""
        seq = {"ORC": self.orc_seq, "OBR": self.obr_seq}.get(name, 1)
        return f"{name}({seq}){position}" if seq > 1 else f"{name}{position}"

    def segments(self) -> dict[str, Segment | None]:
        """This group's segments by name, for `first_value`."""
        return {"ORC": self.orc, "OBR": self.obr, **self.extras}


def order_groups(message: Message) -> list[OrderGroup]:
    """Split the message into ORC-led groups (HL7 v2.5 4.4.1 ORM^O01, 4.4.6 OMI^O23)."""
    groups: list[OrderGroup] = []
    seen: dict[str, int] = {}
    for segment in message.segments:
        seen[segment.name] = seen.get(segment.name, 0) + 1
        if segment.name == "ORC":
            groups.append(OrderGroup(orc=segment, orc_seq=seen["ORC"]))
        elif groups and segment.name == "OBR" and groups[-1].obr is None:
            groups[-1].obr, groups[-1].obr_seq = segment, seen["OBR"]
        elif (
            groups
            and segment.name in ("IPC", "TQ1", "ZDS")
            and segment.name not in groups[-1].extras
        ):
            groups[-1].extras[segment.name] = segment
    return groups


def map_orders(message: Message, header: Header, rules: MappingRules) -> list[Event] | None:
    """Map every order group per its ORC-1; None when no group's control is in the table.

    Raises:
        MissingField: no ORC, or what a group's control needs (patient, accession, procedure).
        InvalidValue: a time that is no time, or an ORC-5 status missing from the table.
    """
    groups = order_groups(message)
    if not groups:
        raise MissingField("required segment ORC is missing", "ORC")
    sent_at = parse_dtm(header.sent_at, rules.facility_tz, "MSH-7")
    pid = message.segment("PID")
    patient = read_patient_id(pid) if pid is not None else None
    visit = read_visit(message.segment("PV1"))
    reader = _GroupReader(header, rules, sent_at, patient, visit, pid is not None)

    events: list[Event] = []
    for group in groups:
        action = rules.order_control.get(group.orc.value(1).strip().upper())
        if action is not None:
            events.extend(reader.read(group, action))
    if not events:
        return None
    if pid is not None and patient is not None:
        events.insert(0, _patient_event(pid, patient, visit, sent_at or _first_time(events)))
    return events


@dataclass(frozen=True, slots=True)
class _GroupReader:
    """Reads order groups with what the whole message shares."""

    header: Header
    rules: MappingRules
    sent_at: datetime | None
    patient: PatientId | None
    visit: Visit | None
    has_pid: bool

    def read(self, group: OrderGroup, action: OrderAction) -> list[Event]:
        accession = self._accession(group)
        event_time = self._time(group, group.at("ORC", "-9"))
        match action:
            case OrderAction.NEW:
                return [self._placed(group, accession, event_time)]
            case OrderAction.CHANGE:
                patient = self._require_patient()
                details = self._details(group, accession)
                return [OrderChanged(accession, patient, details, event_time)]
            case OrderAction.CANCEL | OrderAction.DISCONTINUE:
                milestone = (
                    Milestone.CANCELLED if action is OrderAction.CANCEL else Milestone.DISCONTINUED
                )
                reason = group.orc.value(16, 2).strip() or group.orc.value(16, 1).strip()
                return [MilestoneReached(accession, milestone, event_time, reason)]
            case OrderAction.STATUS:
                return [MilestoneReached(accession, self._status(group), event_time)]
        return []

    def _placed(self, group: OrderGroup, accession: str, ordered_at: datetime) -> OrderPlaced:
        patient = self._require_patient()
        details = self._details(group, accession)
        if not details.procedure.code:
            raise MissingField("procedure code is empty", group.at("OBR", "-4.1"))
        # OBR-6 (requested date/time) stands in for ORC-9 where a RIS leaves ORC-9 empty.
        obr_time = (
            parse_dtm(group.obr.value(6, 1), self.rules.facility_tz, group.at("OBR", "-6"))
            if group.obr is not None and not group.orc.value(9, 1).strip()
            else None
        )
        return OrderPlaced(
            accession=accession,
            patient=patient,
            details=details,
            ordered_at=obr_time or ordered_at,
            scheduled_start=self._requested_start(group),
        )

    def _details(self, group: OrderGroup, accession: str) -> OrderDetails:
        orc, obr, ipc = group.orc, group.obr, group.extras.get("IPC")
        if obr is None:
            raise MissingField("ORC has no OBR", group.at("OBR", ""))
        modality = obr.value(24).strip().upper()
        if modality not in DICOM_MODALITIES:
            modality = ipc.value(5, 1).strip().upper() if ipc else ""
        provider = orc.field(12) if orc.value(12, 1) or orc.value(12, 2) else obr.field(16)
        segments = group.segments()
        study_uid = first_value(segments, ("IPC-3", "ZDS-1")) or study_uid_for(
            accession, self.rules.uid_root
        )
        visit = self.visit or Visit()
        return OrderDetails(
            placer_number=_first(orc.value(2, 1), obr.value(2, 1)),
            filler_number=_first(orc.value(3, 1), obr.value(3, 1)),
            procedure=read_ce(obr.field(4)),
            # IHE SWF: IPC-2 in OMI; OBR-19 (placer field 2) in ORM.
            requested_procedure_id=first_value(segments, ("IPC-2", "OBR-19")) or accession,
            modality=modality,
            priority=first_value(segments, ("TQ1-9", "OBR-27.6", "ORC-7.6")).upper(),
            ordering_provider=read_xcn(provider),
            reason=_first(obr.value(31, 2), obr.value(31, 1), obr.value(13)),
            patient_class=visit.patient_class,
            location=visit.location,
            study_instance_uid=study_uid,
            stations=_stations(ipc, group.at("IPC", "-9")) if ipc else (),
            # IPC-7 Scheduled Station Name (EI): its entity identifier.
            station_name=ipc.value(7, 1).strip() if ipc else "",
            scheduled_step_id=ipc.value(4, 1).strip() if ipc else "",
        )

    def _accession(self, group: OrderGroup) -> str:
        fields = self.rules.accession_fields_for(self.header.sending_application)
        accession = first_value(group.segments(), fields)
        if not accession:
            # Name the first candidate field whose segment the group has (OBR-18 in an ORM).
            present = group.segments()
            where = next((f for f in fields if present.get(f.split("-")[0])), fields[0])
            name, position = where.split("-", 1)
            looked = ", ".join(fields)
            raise MissingField(
                f"accession number is empty (looked in {looked})", group.at(name, "-" + position)
            )
        return accession

    def _status(self, group: OrderGroup) -> Milestone:
        code = group.orc.value(5).strip().upper()
        if not code:
            raise MissingField("order status is empty on a status change", group.at("ORC", "-5"))
        milestone = self.rules.order_status.get(code)
        if milestone is None:
            raise InvalidValue(
                f"order status {code!r} is not in the order_status table",
                group.at("ORC", "-5"),
                code=ErrorCode.TABLE_VALUE_NOT_FOUND,
            )
        return milestone

    def _time(self, group: OrderGroup, location: str) -> datetime:
        at = parse_dtm(group.orc.value(9, 1), self.rules.facility_tz, location) or self.sent_at
        if at is None:
            raise MissingField("no time for the order event (ORC-9 and MSH-7 empty)", location)
        return at

    def _requested_start(self, group: OrderGroup) -> datetime | None:
        for location in ("TQ1-7", "OBR-27.4", "ORC-7.4", "OBR-36"):
            value = first_value(group.segments(), (location,))
            if value:
                name, position = location.split("-")
                return parse_dtm(value, self.rules.facility_tz, group.at(name, "-" + position))
        return None

    def _require_patient(self) -> PatientId:
        if self.patient is None:
            if not self.has_pid:
                raise MissingField("required segment PID is missing", "PID")
            raise MissingField("patient identifier is empty", "PID-3.1")
        return self.patient


def _patient_event(
    pid: Segment, patient: PatientId, visit: Visit | None, occurred_at: datetime
) -> PatientUpserted:
    return PatientUpserted(
        patient=patient,
        name=read_xpn(pid.field(5)),
        birth_date=parse_dt(pid.value(7, 1), "PID-7"),
        sex=pid.value(8).strip().upper(),
        occurred_at=occurred_at,
        visit=visit,
    )


def _first_time(events: list[Event]) -> datetime:
    for event in events:
        for name in ("ordered_at", "changed_at", "occurred_at"):
            if (value := getattr(event, name, None)) is not None:
                return value
    raise AssertionError("order events always carry a time")


def _stations(ipc: Segment, where: str) -> tuple[str, ...]:
    """IPC-9 Scheduled Station AE Title, each repetition one station (IHE RAD TF-2 4.4.4.1.2;
    an EI, its first component), in order, without repeats.

    Raises:
        InvalidValue: a title is not a DICOM AE title (PS3.5 6.2: at most 16 characters, no
            backslash or control characters), or there are more than MAX_STATIONS.
    """
    stations: list[str] = []
    for repetition in ipc.repetitions(9):
        title = repetition.value(1).strip()
        if not title:
            continue
        if len(title) > MAX_AE_TITLE or any(c == "\\" or ord(c) < 0x20 for c in title):
            raise InvalidValue(f"not a DICOM AE title (1-16 characters): {title!r}", where)
        if title not in stations:
            stations.append(title)
    if len(stations) > MAX_STATIONS:
        raise InvalidValue(f"more than {MAX_STATIONS} stations, the most kept", where)
    return tuple(stations)


def _first(*values: str) -> str:
    """The first non-blank value, stripped."""
    for value in values:
        if value.strip():
            return value.strip()
    return ""
