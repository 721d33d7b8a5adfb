"""ORU^R01 (HL7 v2.5 chapter 7): radiology reports, one per OBR group, by OBR-25 status.

A group is an OBR with the OBX segments after it (7.3.1, ORDER_OBSERVATION), with the ORC
right before it if there is one, and the patient of the PID before it. The report text is
the text observations' OBX-5 (TX, FT, ST; the text of CE/CWE) joined with line breaks, in
order; other value types (NM, ED, RP...) hold no report text. Other ORU triggers are
accepted and not mapped (None).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from mappers.errors import ErrorCode, InvalidValue, Location, MissingField
from mappers.events import Event, PatientId, PersonName, Provider, ReportIssued, ReportStatus
from mappers.hl7v2.datatypes import first_value, read_patient_id, read_xcn
from mappers.hl7v2.er7 import Delimiters, Message, Segment, unescape
from mappers.hl7v2.header import Header
from mappers.hl7v2.rules import MappingRules
from mappers.hl7v2.timestamps import parse_dtm

_TEXT_TYPES = frozenset({"TX", "FT", "ST"})
_CODED_TYPES = frozenset({"CE", "CWE"})


@dataclass(slots=True)
class ResultGroup:
    """One OBR of the message with its ORC, OBX segments and PID; `seq` is the OBR's number.

    `observations` pairs each OBX with its occurrence number in the message, for error locations.
    """

    obr: Segment
    seq: int
    orc: Segment | None = None
    pid: Segment | None = None
    observations: list[tuple[int, Segment]] = field(default_factory=list)


def result_groups(message: Message) -> list[ResultGroup]:
    """Split an ORU into OBR-led groups (HL7 v2.5 7.3.1 ORU^R01 structure)."""
    groups: list[ResultGroup] = []
    pid: Segment | None = None
    orc: Segment | None = None
    obr_seq = obx_seq = 0
    collecting = False
    for segment in message.segments:
        name = segment.name
        if name == "PID":
            pid, orc, collecting = segment, None, False
        elif name == "ORC":
            orc, collecting = segment, False
        elif name == "OBR":
            obr_seq += 1
            groups.append(ResultGroup(obr=segment, seq=obr_seq, orc=orc, pid=pid))
            orc, collecting = None, True
        elif name == "OBX":
            obx_seq += 1
            if collecting:
                groups[-1].observations.append((obx_seq, segment))
        elif name == "SPM":
            collecting = False  # OBX after SPM describe the specimen, not the report (7.3.1)
    return groups


def map_oru(message: Message, header: Header, rules: MappingRules) -> list[Event] | None:
    """A ReportIssued per OBR group of an ORU^R01; None for other ORU triggers.

    Raises:
        MissingField: no OBR, or a group without accession, status or any result time.
        InvalidValue: an OBR-25 not in the site's table, or a date/time that is not one.
    """
    if header.trigger_event != "R01":
        return None
    groups = result_groups(message)
    if not groups:
        raise MissingField("required segment OBR is missing", "OBR")
    fields = rules.accession_fields_for(header.sending_application)
    return [_report(group, fields, rules, message.delimiters, header.sent_at) for group in groups]


def _report(
    group: ResultGroup,
    accession_fields: tuple[str, ...],
    rules: MappingRules,
    delimiters: Delimiters,
    sent_at: str,
) -> ReportIssued:
    """The report of one OBR group.

    Raises:
        MissingField: no accession, no OBR-25, or no result time.
        InvalidValue: OBR-25 unknown, or a date/time of the wrong form.
    """
    obr, seq = group.obr, group.seq
    accession = first_value({"ORC": group.orc, "OBR": obr}, accession_fields)
    if not accession:
        where = next((loc for loc in accession_fields if loc.startswith("OBR")), "OBR-18")
        raise MissingField(
            f"accession number is empty (looked in {', '.join(accession_fields)})",
            dataclasses.replace(Location.parse(where), sequence=seq),
        )
    return ReportIssued(
        accession=accession,
        status=_status(obr, seq, rules),
        text=_text(group.observations, delimiters),
        radiologist=_radiologist(group),
        result_at=_result_at(group, rules.facility_tz, sent_at),
        patient=_patient(group.pid),
    )


def _status(obr: Segment, seq: int, rules: MappingRules) -> ReportStatus:
    """OBR-25 result status (table 0123) through the site's table.

    Raises:
        MissingField: OBR-25 is empty.
        InvalidValue: the code is not in the table.
    """
    code = obr.value(25).strip().upper()
    if not code:
        raise MissingField("result status is empty", f"OBR({seq})-25")
    status = rules.result_status.get(code)
    if status is None:
        raise InvalidValue(
            f"result status {code!r} is not one the gateway maps to a report",
            f"OBR({seq})-25",
            code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    return status


def _text(observations: list[tuple[int, Segment]], delimiters: Delimiters) -> str:
    """The report text: each text observation's OBX-5, repetitions and OBX in order, by line."""
    lines: list[str] = []
    for _, obx in observations:
        value_type = obx.value(2).strip().upper()
        if value_type in _TEXT_TYPES:
            # TX/FT/ST have no components: a stray "^" or "&" is text, so the whole repetition
            # is unescaped as one (v2.5 chapter 2A, ST/TX/FT). An empty OBX-5 is a blank
            # line of the report's layout.
            values = [unescape(rep.raw, delimiters) for rep in obx.repetitions(5)] or [""]
        elif value_type in _CODED_TYPES:
            values = [rep.value(2).strip() or rep.value(1).strip() for rep in obx.repetitions(5)]
        else:
            continue
        for value in values:
            # Trailing spaces carry no meaning in TX (chapter 2A, TX); leading ones are layout.
            lines.extend(line.rstrip() for line in value.split("\n"))
    return "\n".join(lines).strip("\n")


def _radiologist(group: ResultGroup) -> Provider:
    """OBR-32 principal result interpreter, else the first OBX-16 responsible observer."""
    obr = group.obr
    # OBR-32 is NDL: its first component is a CNN whose parts are subcomponents
    # (id & family & given & middle & suffix & prefix; v2.5 4.5.3.32, chapter 2A CNN).
    parts = [obr.value(32, 1, n).strip() for n in range(1, 7)]
    if parts[0] or parts[1]:
        ident, family, given, middle, suffix, prefix = parts
        name = PersonName(family=family, given=given, middle=middle, prefix=prefix, suffix=suffix)
        return Provider(id=ident, name=name)
    for _, obx in group.observations:
        if obx.value(16, 1).strip() or obx.value(16, 2).strip():
            return read_xcn(obx.field(16))
    return Provider()


def _result_at(group: ResultGroup, tz: tzinfo, sent_at: str) -> datetime:
    """OBR-22 results report/status change, else the first valued OBX-14, else MSH-7.

    Raises:
        MissingField: none is valued.
        InvalidValue: a value of the wrong form.
    """
    seq = group.seq
    at = parse_dtm(group.obr.value(22, 1), tz, f"OBR({seq})-22")
    if at is None:
        timed = [(n, obx) for n, obx in group.observations if obx.value(14, 1).strip()]
        if timed:
            n, obx = timed[0]
            at = parse_dtm(obx.value(14, 1), tz, f"OBX({n})-14")
    at = at or parse_dtm(sent_at, tz, "MSH-7")
    if at is None:
        raise MissingField(
            "result time is empty (looked in OBR-22, OBX-14, MSH-7)", f"OBR({seq})-22"
        )
    return at


def _patient(pid: Segment | None) -> PatientId | None:
    """The patient of the group's PID, if it has one."""
    return read_patient_id(pid) if pid is not None else None
