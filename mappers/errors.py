"""Why a message could not be read or mapped, and where in it the problem lies.

Hierarchy::

    MappingError             any message the mappers cannot turn into events
    ├── ParseError           not readable as ER7 (no MSH, bad delimiters, bad escape)
    ├── CharsetError         bytes not valid in the declared (MSH-18) or default character set
    ├── UnsupportedMessage   a message type, event, version or processing id we do not take
    └── MissingField         a field the mapping needs is empty
    (InvalidValue)           a field holds a value of the wrong form (a date that is no date)

Each error carries an HL7 error code (HL7 v2.5 table 0357) and the location of the field it
concerns, so that the acknowledgement's ERR segment can name both.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import IntEnum


class ErrorCode(IntEnum):
    """HL7 table 0357, message error condition codes."""

    SEGMENT_SEQUENCE_ERROR = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT_CODE = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION_ID = 203
    UNKNOWN_KEY_IDENTIFIER = 204
    DUPLICATE_KEY_IDENTIFIER = 205
    APPLICATION_RECORD_LOCKED = 206
    APPLICATION_INTERNAL_ERROR = 207

    @property
    def text(self) -> str:
        """The table's own wording for the code."""
        return _ERROR_TEXT[self]


_ERROR_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


_LOCATION = re.compile(
    r"^(?P<segment>[A-Z][A-Z0-9]{2})"
    r"(?:\((?P<sequence>\d+)\))?"
    r"(?:-(?P<field>\d+)(?:\[(?P<repetition>\d+)\])?"
    r"(?:\.(?P<component>\d+)(?:\.(?P<subcomponent>\d+))?)?)?$"
)


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a message, as HL7's ERL data type names it (segment, field, component...).

    `sequence` is the segment's occurrence (1 = the first OBR), `repetition` the field's.
    """

    segment: str
    field: int | None = None
    component: int | None = None
    subcomponent: int | None = None
    sequence: int = 1
    repetition: int = 1

    @classmethod
    def parse(cls, text: str) -> Location:
        """Read the short form used in code and logs: `OBR-4.1`, `PID(1)-3[2].4`.

        Raises:
            ValueError: the text is not a location.
        """
        return _parse_location(text)

    def __str__(self) -> str:
        text = self.segment
        if self.sequence != 1:
            text += f"({self.sequence})"
        if self.field is not None:
            text += f"-{self.field}"
            if self.repetition != 1:
                text += f"[{self.repetition}]"
            if self.component is not None:
                text += f".{self.component}"
                if self.subcomponent is not None:
                    text += f".{self.subcomponent}"
        return text


class MappingError(Exception):
    """A message the mappers cannot turn into events; says where and why."""

    code: ErrorCode = ErrorCode.APPLICATION_INTERNAL_ERROR

    def __init__(
        self,
        reason: str,
        location: Location | str | None = None,
        *,
        code: ErrorCode | None = None,
    ) -> None:
        self.reason = reason
        self.location = Location.parse(location) if isinstance(location, str) else location
        if code is not None:
            self.code = code
        super().__init__(f"{self.location}: {reason}" if self.location else reason)


class ParseError(MappingError):
    """The text is not a readable ER7 message."""

    code = ErrorCode.SEGMENT_SEQUENCE_ERROR


class CharsetError(MappingError):
    """The bytes are not valid in the character set the message declares or defaults to."""

    code = ErrorCode.DATA_TYPE_ERROR


class UnsupportedMessage(MappingError):
    """A message type, trigger event, version or processing id outside what we accept."""

    code = ErrorCode.UNSUPPORTED_MESSAGE_TYPE


class MissingField(MappingError):
    """A field the mapping needs is empty."""

    code = ErrorCode.REQUIRED_FIELD_MISSING


class InvalidValue(MappingError):
    """A field's value does not have the form its data type requires."""

    code = ErrorCode.DATA_TYPE_ERROR


# The mappers name the same few dozen places (`OBR-18`, `PID-3`) in every message, so each
# text is parsed once; a Location is immutable, so sharing one is safe.
@functools.lru_cache(maxsize=4096)
def _parse_location(text: str) -> Location:
    match = _LOCATION.match(text)
    if match is None:
        raise ValueError(f"not a location: {text!r}")
    parts = match.groupdict()

    def number(key: str) -> int | None:
        return int(parts[key]) if parts[key] else None

    return Location(
        segment=parts["segment"],
        field=number("field"),
        component=number("component"),
        subcomponent=number("subcomponent"),
        sequence=number("sequence") or 1,
        repetition=number("repetition") or 1,
    )
