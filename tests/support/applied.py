"""Events stored as one applied message of their own, as a listener stores what it mapped:
for tests that build the store's state from events rather than from wire messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from mappers.events import Event
from store.ingest import Inbound, Outcome


def applied_message(
    events: Iterable[Event],
    *,
    received_at: datetime | None = None,
    control_id: str | None = None,
    peer: str = "test",
) -> Inbound:
    """One HL7 message from RIS at H, applied, with a control id (and body) of its own unless
    one is given (the same id again is the same message: the store keeps it once)."""
    control_id = control_id or uuid.uuid4().hex[:16]
    return Inbound(
        protocol="hl7v2",
        received_at=received_at or datetime.now(UTC),
        peer=peer,
        raw=f"message {control_id}".encode(),
        outcome=Outcome.APPLIED,
        events=tuple(events),
        sending_application="RIS",
        sending_facility="H",
        control_id=control_id,
        ack_code="AA",
    )
