"""Choose the mapping for a message by its type (MSH-9.1)."""

from __future__ import annotations

from collections.abc import Callable

from mappers.events import Event
from mappers.hl7v2.adt import map_adt
from mappers.hl7v2.er7 import Message
from mappers.hl7v2.header import Header
from mappers.hl7v2.lengths import check_lengths
from mappers.hl7v2.orders import map_orders
from mappers.hl7v2.results import map_oru
from mappers.hl7v2.rules import MappingRules
from mappers.hl7v2.scheduling import map_siu

Mapper = Callable[[Message, Header, MappingRules], list[Event] | None]

_MAPPERS: dict[str, Mapper] = {
    "ADT": map_adt,
    "ORM": map_orders,
    "OMI": map_orders,
    "OMG": map_orders,
    "SIU": map_siu,
    "ORU": map_oru,
}


def map_message(message: Message, header: Header, rules: MappingRules) -> list[Event] | None:
    """The events a message proves, or None for a message in scope that changes nothing.

    Raises:
        MappingError: the message cannot be mapped, or holds a value longer than the store
            keeps (names the segment and field).
    """
    mapper = _MAPPERS.get(header.message_code)
    if mapper is None:
        return None
    events = mapper(message, header, rules)
    if events:
        check_lengths(message, events)
    return events
