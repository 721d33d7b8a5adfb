"""What a sender's message says about its data quality: its own time, and the recommended
fields it left empty. Pure; read from the parsed message, whatever became of it.

The recommended fields are those the department's figures group and route by: the
procedure (OBR-4), the patient class (PV1-2, the flow figures' ED / inpatient / outpatient),
the ordering provider (ORC-12) and the priority (TQ1-9 in OMI, OBR-27.6 or ORC-7.6 in ORM;
HL7 v2.5 chapters 4.5 and 4A). A message that lacks one is still taken; the sender's
scorecard counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo

from mappers.errors import MappingError
from mappers.hl7v2.er7 import Message
from mappers.hl7v2.header import Header
from mappers.hl7v2.timestamps import parse_dtm

PRIORITY = "priority"
_PRIORITY_FIELDS = (("TQ1", 9, 1), ("OBR", 27, 6), ("ORC", 7, 6))

Check = Callable[[Message], bool]  # True when the recommended value is there


def _every(segment: str, field: int, component: int = 1) -> Check:
    """Each `segment` of the message values this field (a missing segment lacks it)."""

    def check(message: Message) -> bool:
        found = message.segments_named(segment)
        return bool(found) and all(s.value(field, component).strip() for s in found)

    return check


def _has_priority(message: Message) -> bool:
    for name, field, component in _PRIORITY_FIELDS:
        for segment in message.segments_named(name):
            if segment.value(field, component).strip():
                return True
    return False


_ORDER = {
    "OBR-4": _every("OBR", 4),
    "PV1-2": _every("PV1", 2),
    "ORC-12": _every("ORC", 12),
    PRIORITY: _has_priority,
}
# By message code (MSH-9.1): the fields each kind should carry, in the order they are named.
RECOMMENDED: Mapping[str, Mapping[str, Check]] = {
    "ORM": _ORDER,
    "OMI": _ORDER,
    "OMG": _ORDER,
    "ORU": {"OBR-4": _every("OBR", 4), "PV1-2": _every("PV1", 2)},
    "SIU": {"PV1-2": _every("PV1", 2)},
    "ADT": {"PV1-2": _every("PV1", 2)},
}


def missing_recommended(message: Message, header: Header) -> tuple[str, ...]:
    """The recommended fields this message leaves empty, in a fixed order."""
    checks = RECOMMENDED.get(header.message_code, {})
    return tuple(name for name, present in checks.items() if not present(message))


def message_time(header: Header, facility_tz: tzinfo) -> datetime | None:
    """MSH-7 as an aware UTC time; None when it is empty or cannot be read (the message is
    judged on its content, not on this)."""
    try:
        return parse_dtm(header.sent_at, facility_tz, "MSH-7")
    except MappingError:
        return None
