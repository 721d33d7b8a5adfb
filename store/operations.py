"""Operator actions, prober observations and PACS reconciliations, submitted to the one
writer as events.

Nothing here opens a write transaction: each action is an `Inbound` whose events the writer
folds with everything else queued, answered after the shared commit. Operator actions are
kept in the message log (protocol `api`) for the audit; probe observations are not logged,
one a minute per device being noise there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from mappers.events import (
    DeviceProbed,
    DeviceRegistered,
    DeviceRegistration,
    DowntimeDeclared,
    DowntimeEnded,
    Event,
    PacsReconciled,
)
from store.errors import StoreError
from store.inbound import Inbound, Outcome, Stored
from store.ingest import Ingest


class ActionRefused(StoreError):
    """The writer refused the action (no such device or downtime)."""


async def register_device(
    ingest: Ingest, ae_title: str, registration: DeviceRegistration, *, peer: str = ""
) -> None:
    """Register a device or change its registration (learned facts are kept)."""
    await _submit(ingest, "register device", peer, DeviceRegistered(ae_title, registration))


async def declare_downtime(
    ingest: Ingest,
    ae_title: str,
    *,
    starts_at: datetime,
    ends_at: datetime | None,
    planned: bool,
    reason: str,
    ticket: str,
    peer: str = "",
) -> int:
    """Declare downtime; its id.

    Raises:
        ActionRefused: no such device.
    """
    event = DowntimeDeclared(ae_title, starts_at, ends_at, planned, reason, ticket)
    stored = await _submit(ingest, "declare downtime", peer, event)
    return stored.created[0]


async def end_downtime(
    ingest: Ingest, ae_title: str, downtime_id: int, ends_at: datetime, *, peer: str = ""
) -> None:
    """Set the end of a declared downtime.

    Raises:
        ActionRefused: no such downtime for this device.
    """
    await _submit(ingest, "end downtime", peer, DowntimeEnded(ae_title, downtime_id, ends_at))


async def record_probe(
    ingest: Ingest,
    ae_title: str,
    *,
    at: datetime,
    interval: timedelta,
    transition: tuple[str, datetime, str] | None,
) -> None:
    """Extend what the prober has watched by this probe, and record a transition if any."""
    await _submit(
        ingest, "probe", "prober", DeviceProbed(ae_title, at, interval, transition), log=False
    )


async def record_pacs_reconciliation(ingest: Ingest, event: PacsReconciled) -> None:
    """Keep what a reconciliation with the PACS found (not logged, as probes are not)."""
    await _submit(ingest, "pacs reconciliation", "reconciler", event, log=False)


async def _submit(
    ingest: Ingest, action: str, peer: str, event: Event, *, log: bool = True
) -> Stored:
    now = datetime.now(UTC)
    stored = await ingest.submit(
        Inbound(
            protocol="api",
            received_at=now,
            peer=peer[:255],
            raw=orjson.dumps({"action": action, "event": repr(event)}),
            outcome=Outcome.APPLIED,
            events=(event,),
            message_type=action[:32],
            logged=log,
        )
    )
    if stored.outcome is not Outcome.APPLIED:
        raise ActionRefused(f"{action} refused ({stored.outcome.value})")
    return stored
