"""Choose the mapping for a message by its type and trigger event."""

from __future__ import annotations

from datetime import tzinfo

from mappers.events import Event
from mappers.hl7v2.er7 import Message
from mappers.hl7v2.header import Header
from mappers.hl7v2.orders import map_new_orders, order_control, order_groups

# Order messages whose mapping exists: new orders (ORC-1 NW). Other order controls, and the
# other message families in scope, are accepted and kept as "not mapped" until their
# mappings land.
_NEW_ORDER_TYPES = {("ORM", "O01"), ("OMI", "O23")}


def map_message(message: Message, header: Header, facility_tz: tzinfo) -> list[Event] | None:
    """The events a message proves, or None for a type in scope that has no mapping yet.

    Raises:
        MappingError: the message is of a mapped type but cannot be mapped (names the field).
    """
    if (header.message_code, header.trigger_event) in _NEW_ORDER_TYPES:
        groups = order_groups(message)
        if groups and all(order_control(group) == "NW" for group in groups):
            return map_new_orders(message, header, facility_tz)
        if not groups:
            return map_new_orders(message, header, facility_tz)  # raises: no ORC
    return None
