"""Values longer than the store keeps are refused (AR) naming the field they came from.

The limits are the vocabulary's (`mappers/limits.py`); this finds the place in the message
that held the value, so that the ERR segment can name it as every other refusal does.
"""

from __future__ import annotations

from collections.abc import Iterable

from mappers.errors import InvalidValue, Location
from mappers.hl7v2.er7 import Message
from mappers.limits import first_too_long

# Enough subcomponents to find any value the mappers read (CX-4.1, XCN-9.1, ...).
_SUBCOMPONENTS = 4


def check_lengths(message: Message, events: Iterable[object]) -> None:
    """Refuse a message whose events hold a value longer than the store keeps.

    Raises:
        InvalidValue: names the field that held the value, and the limit.
    """
    found = first_too_long(events)
    if found is None:
        return
    where = locate(message, found.value)
    raise InvalidValue(f"value longer than {found.limit} characters, the most kept", where)


def locate(message: Message, value: str) -> Location | None:
    """The first place in `message` whose text holds `value`; None when none does (a value
    the mapper composed from several places)."""
    seen: dict[str, int] = {}
    for segment in message.segments:
        sequence = seen[segment.name] = seen.get(segment.name, 0) + 1
        for number in range(1, len(segment) + 1):
            for repetition, field in enumerate(segment.repetitions(number), start=1):
                for component in range(1, len(field.components()) + 1):
                    for subcomponent in range(1, _SUBCOMPONENTS + 1):
                        if value in field.value(component, subcomponent):
                            return Location(
                                segment.name,
                                number,
                                component,
                                subcomponent if subcomponent > 1 else None,
                                sequence,
                                repetition,
                            )
    return None
