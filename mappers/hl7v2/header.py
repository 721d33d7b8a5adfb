"""The message header (MSH): who sent what, and how they want it acknowledged.

Read on its own from the first segment, so that a message whose body cannot be read can still
be answered with a proper ACK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mappers.errors import InvalidValue, MissingField, ParseError, UnsupportedMessage
from mappers.hl7v2.er7 import Delimiters, Message, Segment, parse_message

# Versions whose ER7 encoding and MSH layout we read (HL7 v2.5 table 0104, and later ones).
SUPPORTED_VERSIONS: frozenset[str] = frozenset(
    {"2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)

# Message types within the gateway's scope (DESIGN.md, "Sources"); others are refused.
SUPPORTED_TYPES: frozenset[str] = frozenset({"ADT", "ORM", "OMI", "OMG", "SIU", "ORU"})

_SEGMENT_SPLIT = re.compile(r"[\r\n]")


@dataclass(frozen=True, slots=True)
class Header:
    """The MSH fields the gateway acts on."""

    delimiters: Delimiters
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    sent_at: str
    message_code: str
    trigger_event: str
    structure: str
    control_id: str
    processing_id: str
    version: str
    accept_ack_type: str
    application_ack_type: str
    charset: str

    @property
    def message_type(self) -> str:
        """`ORM^O01` style, as logs and the message log show it."""
        return (
            f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code
        )

    @property
    def enhanced_mode(self) -> bool:
        """True when MSH-15 or MSH-16 is valued: HL7 v2.5 chapter 2.9.3 enhanced acknowledgement."""
        return bool(self.accept_ack_type or self.application_ack_type)


def read_header(text: str) -> Header:
    """Read the MSH segment at the start of `text`.

    Raises:
        ParseError: the text does not start with a readable MSH segment.
    """
    first_line = _SEGMENT_SPLIT.split(text.lstrip("\r\n \t\x00"), maxsplit=1)[0]
    return header_from_segment(parse_message(first_line))


def header_from_segment(message: Message) -> Header:
    """Build the header from a parsed message's MSH."""
    msh = message.segment("MSH")
    if msh is None:  # parse_message guarantees an MSH first; kept for type narrowing
        raise ParseError("message does not start with MSH", "MSH")
    return Header(
        delimiters=message.delimiters,
        sending_application=msh.raw(3),
        sending_facility=msh.raw(4),
        receiving_application=msh.raw(5),
        receiving_facility=msh.raw(6),
        sent_at=msh.value(7),
        message_code=msh.value(9, 1).strip().upper(),
        trigger_event=msh.value(9, 2).strip().upper(),
        structure=msh.value(9, 3).strip().upper(),
        control_id=msh.value(10).strip(),
        processing_id=msh.value(11, 1).strip().upper(),
        version=msh.value(12, 1).strip(),
        accept_ack_type=msh.value(15).strip().upper(),
        application_ack_type=msh.value(16).strip().upper(),
        charset=msh.value(18).strip().upper(),
    )


# The message log keeps MSH-3, MSH-4 and MSH-10 up to this length (store/schema/workflow.py).
HEADER_VALUE_LIMIT = 255


def check_header(header: Header, accepted_processing_ids: tuple[str, ...]) -> None:
    """Refuse a header the gateway cannot act on, naming the field.

    Raises:
        MissingField: MSH-9 or MSH-10 is empty.
        InvalidValue: MSH-3, MSH-4 or MSH-10 is longer than the message log keeps.
        UnsupportedMessage: an unknown version, processing id or message type.
    """
    if not header.message_code:
        raise MissingField("message type is empty", "MSH-9.1")
    if not header.control_id:
        raise MissingField("message control id is empty", "MSH-10")
    for location, value in (
        ("MSH-3", header.sending_application),
        ("MSH-4", header.sending_facility),
        ("MSH-10", header.control_id),
    ):
        if len(value) > HEADER_VALUE_LIMIT:
            raise InvalidValue(
                f"value longer than {HEADER_VALUE_LIMIT} characters, the most kept", location
            )
    if header.version not in SUPPORTED_VERSIONS:
        raise UnsupportedMessage(
            f"version {header.version!r} is not supported",
            "MSH-12.1",
            code=UnsupportedMessage.code.UNSUPPORTED_VERSION_ID,
        )
    if header.processing_id not in accepted_processing_ids:
        raise UnsupportedMessage(
            f"processing id {header.processing_id!r} is not accepted here",
            "MSH-11.1",
            code=UnsupportedMessage.code.UNSUPPORTED_PROCESSING_ID,
        )
    if header.message_code not in SUPPORTED_TYPES:
        raise UnsupportedMessage(f"message type {header.message_code!r} is not taken", "MSH-9.1")


def segment_or_missing(message: Message, name: str) -> Segment:
    """The first segment called `name`.

    Raises:
        MissingField: the message has no such segment.
    """
    segment = message.segment(name)
    if segment is None:
        raise MissingField(f"required segment {name} is missing", name)
    return segment
