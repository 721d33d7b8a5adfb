"""A message as the store receives it (`Inbound`), and what it did with it (`Stored`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mappers.events import Event
from store.errors import Rejection


class Outcome(StrEnum):
    """What became of an inbound message, as the message log records it."""

    APPLIED = "applied"  # mapped and applied to the workflow tables
    NOT_MAPPED = "not_mapped"  # accepted and kept; no mapping for its type yet
    REJECTED = "rejected"  # refused (AR/CR); kept with the error
    FAILED = "failed"  # accepted by the mapper, but applying it failed (AE/CE); kept

    @property
    def accepted(self) -> bool:
        """True when the sender was told the message is safe (AA/CA)."""
        return self in (Outcome.APPLIED, Outcome.NOT_MAPPED)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as received, with what the mappers made of it."""

    protocol: str
    received_at: datetime
    peer: str
    raw: bytes
    outcome: Outcome
    events: Sequence[Event] = ()
    charset: str | None = None
    sending_application: str | None = None
    sending_facility: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    version: str | None = None
    ack_code: str | None = None
    error: str | None = None
    error_location: str | None = None
    # The message's own time (HL7 MSH-7) and the recommended fields it left empty: the
    # sender's scorecard (store/reading/senders.py).
    sent_at: datetime | None = None
    missing_fields: tuple[str, ...] = ()
    # An operator's replay: a message kept earlier without being applied is processed afresh.
    replay: bool = False
    # False for what is not a message (a probe's observation): applied, not kept in the log.
    logged: bool = True

    @property
    def content_sha256(self) -> str:
        """The identity of the content; trailing whitespace is not part of it."""
        return hashlib.sha256(self.raw.rstrip(b"\r\n\t \x00")).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store did with a submitted message."""

    message_id: int
    outcome: Outcome
    duplicate: bool  # the same message had been accepted before; nothing changed
    control_id_reused: bool  # another message from the same sender carried this control id
    rejection: Rejection | None = None  # why the store refused its events, when it did
    created: tuple[int, ...] = ()  # ids of rows it made that only an id names (a downtime)
