"""ORM^O01 and OMI^O23 (HL7 v2 chapter 4): imaging orders.

A message holds one or more order groups: an ORC, then its OBR (and in OMI its IPC and TQ1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from mappers.errors import MissingField
from mappers.events import Event, OrderPlaced, PatientId, PatientUpserted
from mappers.hl7v2.datatypes import read_ce, read_patient_id, read_xcn, read_xpn
from mappers.hl7v2.er7 import Message, Segment
from mappers.hl7v2.header import Header, segment_or_missing
from mappers.hl7v2.timestamps import parse_dt, parse_dtm

# DICOM modality codes (PS3.3 C.7.3.1.1.1) that an OBR-24 may carry directly; sites that put
# a department code there ("RAD") leave the modality to be learned from DICOM.
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
        elif groups and segment.name in ("IPC", "TQ1") and segment.name not in groups[-1].extras:
            groups[-1].extras[segment.name] = segment
    return groups


def order_control(group: OrderGroup) -> str:
    """ORC-1, upper-cased."""
    return group.orc.value(1).strip().upper()


def map_new_orders(message: Message, header: Header, facility_tz: tzinfo) -> list[Event]:
    """Map an order message whose every group is ORC-1 NW to a patient and its new orders.

    Raises:
        MissingField: no ORC, no patient identifier, accession or procedure code.
        InvalidValue: a date/time field that is not one.
    """
    pid = segment_or_missing(message, "PID")
    patient = read_patient_id(pid)
    if patient is None:
        raise MissingField("patient identifier is empty", "PID-3.1")
    groups = order_groups(message)
    if not groups:
        raise MissingField("required segment ORC is missing", "ORC")

    sent_at = parse_dtm(header.sent_at, facility_tz, "MSH-7")
    events: list[Event] = []
    orders = [_map_order(group, patient, sent_at, facility_tz) for group in groups]
    events.append(
        PatientUpserted(
            patient=patient,
            name=read_xpn(pid.field(5)),
            birth_date=parse_dt(pid.value(7, 1), "PID-7"),
            sex=pid.value(8).strip().upper(),
            occurred_at=sent_at or orders[0].ordered_at,
        )
    )
    events.extend(orders)
    return events


def _map_order(
    group: OrderGroup, patient: PatientId, sent_at: datetime | None, facility_tz: tzinfo
) -> OrderPlaced:
    orc, obr = group.orc, group.obr
    if obr is None:
        raise MissingField("ORC has no OBR", f"OBR({group.orc_seq})")
    obr_at = f"OBR({group.obr_seq})" if group.obr_seq != 1 else "OBR"
    orc_at = f"ORC({group.orc_seq})" if group.orc_seq != 1 else "ORC"
    ipc = group.extras.get("IPC")
    tq1 = group.extras.get("TQ1")

    accession = _first(ipc.value(1) if ipc else "", obr.value(18), obr.value(3), orc.value(3))
    if not accession:
        raise MissingField(
            "accession number is empty (looked in IPC-1, OBR-18, OBR-3, ORC-3)", f"{obr_at}-18"
        )
    procedure = read_ce(obr.field(4))
    if not procedure.code:
        raise MissingField("procedure code is empty", f"{obr_at}-4.1")

    ordered_at = (
        parse_dtm(orc.value(9, 1), facility_tz, f"{orc_at}-9")
        or parse_dtm(obr.value(6, 1), facility_tz, f"{obr_at}-6")
        or sent_at
    )
    if ordered_at is None:
        raise MissingField("order time is empty (looked in ORC-9, OBR-6, MSH-7)", f"{orc_at}-9")

    modality = obr.value(24).strip().upper()
    if modality not in DICOM_MODALITIES:
        modality = ipc.value(5, 1).strip().upper() if ipc else ""
    provider = orc.field(12) if orc.value(12, 1) or orc.value(12, 2) else obr.field(16)

    return OrderPlaced(
        accession=accession,
        patient=patient,
        placer_number=_first(orc.value(2, 1), obr.value(2, 1)),
        filler_number=_first(orc.value(3, 1), obr.value(3, 1)),
        procedure=procedure,
        modality=modality,
        priority=_first(tq1.value(9, 1) if tq1 else "", obr.value(27, 6), orc.value(7, 6)).upper(),
        ordering_provider=read_xcn(provider),
        reason=_first(obr.value(31, 2), obr.value(31, 1), obr.value(13)),
        ordered_at=ordered_at,
    )


def _first(*values: str) -> str:
    """The first non-blank value, stripped."""
    for value in values:
        if value.strip():
            return value.strip()
    return ""
