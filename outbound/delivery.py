"""Delivering the outbox: one task per destination claims what is due, sends it, records it.

Every claim and every attempt's record is a small transaction the writer runs between batches
(`Ingest.run`, see store/outbox.py). A row is sent only after the commit that made it, and
stays pending until an acknowledgement for exactly it is recorded, so a crash at any point
sends it again (with the same event id / MSH-10) rather than losing it. Within a destination,
rows of one order (or one device) go strictly one after the other: a row is claimed only when
every earlier row of its key is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from mappers.hl7v2.status import StatusHeader, StatusUpdate, build_status_update
from mappers.webhooks import build_event
from outbound.attempts import Outcome, Verdict, backoff
from outbound.mllp_client import MllpClient
from outbound.webhook_client import WebhookClient
from store.fold.outbox import DEAD, DELIVERED, PENDING
from store.ingest import Ingest
from store.outbox import Attempt, OutboxItem, claim, record, release, release_all

log = logging.getLogger(__name__)
_UPDATE_FIELDS = frozenset(f.name for f in fields(StatusUpdate))


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How the deliverer paces itself."""

    poll_interval: float = 1.0  # seconds between looks when no commit wakes it
    lease: float = 60.0  # seconds a claim holds a row
    batch: int = 50  # rows claimed at once per destination
    backoff_base: float = 1.0
    backoff_max: float = 300.0


class Channel(Protocol):
    """One destination: how its rows are rendered and sent."""

    name: str

    def render(self, item: OutboxItem, facts: Mapping[str, Any] | None) -> bytes:
        """The bytes to send for a row (at its first claim)."""
        ...

    async def send(self, item: OutboxItem) -> Outcome:
        """One attempt."""
        ...

    async def close(self) -> None:
        """Close connections."""
        ...


class Hl7Channel:
    """An HL7 v2 destination over MLLP."""

    def __init__(
        self,
        name: str,
        client: MllpClient,
        header: StatusHeader,
        status_codes: Mapping[str, str],
    ) -> None:
        self.name = name
        self._client = client
        self._header = header
        self._codes = dict(status_codes)

    def render(self, item: OutboxItem, facts: Mapping[str, Any] | None) -> bytes:
        """The status message, with the order and its patient as the store holds them now."""
        known = {k: v for k, v in (facts or {}).items() if k in _UPDATE_FIELDS and v is not None}
        update = StatusUpdate(
            **{
                **known,
                "control_id": item.event_id,
                "sent_at": item.created_at,
                "order_status": self._codes.get(item.event_type, ""),
                "occurred_at": item.occurred_at,
                "accession": item.data["accession"],
            }
        )
        return build_status_update(self._header, update)

    async def send(self, item: OutboxItem) -> Outcome:
        """Send the message; its ACK decides."""
        assert item.body is not None
        return await self._client.send(item.body, item.event_id)

    async def close(self) -> None:
        """Close the connection."""
        await self._client.close()


class WebhookChannel:
    """A webhook destination."""

    def __init__(self, name: str, client: WebhookClient) -> None:
        self.name = name
        self._client = client

    def render(self, item: OutboxItem, facts: Mapping[str, Any] | None) -> bytes:
        """The event's JSON body."""
        return build_event(item.event_id, item.event_type, item.occurred_at, item.data)

    async def send(self, item: OutboxItem) -> Outcome:
        """POST the event; the HTTP status decides."""
        assert item.body is not None
        return await self._client.send(item.body, item.event_id, item.event_type)

    async def close(self) -> None:
        """Close the session."""
        await self._client.close()


def claimer_name() -> str:
    """This process's name on its claims: host, pid and a token of this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Deliverer:
    """Runs one delivery task per destination; started and closed with the app."""

    def __init__(
        self,
        ingest: Ingest,
        channels: list[Channel],
        options: DeliveryOptions,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ingest = ingest
        self._channels = channels
        self._options = options
        self._clock = clock
        self.claimer = claimer_name()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start delivering."""
        self._tasks = [
            asyncio.create_task(self._run(channel), name=f"outbox-{channel.name}")
            for channel in self._channels
        ]

    async def close(self) -> None:
        """Stop: an attempt under way is abandoned, its row given back and sent again later
        (with the same id)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            # What this process held is due again at once, for whoever starts next.
            try:
                await self._ingest.run(partial(release_all, claimer=self.claimer))
            except Exception as exc:  # the leases lapse on their own
                log.warning("outbox: claims not given back: %s", type(exc).__name__)
        self._tasks = []
        for channel in self._channels:
            await channel.close()

    async def _run(self, channel: Channel) -> None:
        seen = self._ingest.commits.generation
        while True:
            try:
                busy = await self.deliver_due(channel)
            except Exception as exc:  # the store is away: look again later
                log.error("outbox %s: delivery round failed: %s", channel.name, type(exc).__name__)
                log.debug("outbox delivery failure detail", exc_info=exc)
                busy = False
            if not busy:
                # A commit may have made rows: look then, or after the poll interval.
                seen = await self._ingest.commits.wait(seen, self._options.poll_interval)

    async def deliver_due(self, channel: Channel) -> bool:
        """Claim and send what is due for one destination; True when it may have more."""
        options = self._options
        claimed_at = self._clock()
        # Sending stops at half the lease, so that no row is still being sent by this process
        # when its lease lets another take it: the rest is given back and claimed anew.
        stop_at = claimed_at + timedelta(seconds=options.lease / 2)
        items = await self._ingest.run(
            partial(
                claim,
                destination=channel.name,
                now=claimed_at,
                lease=timedelta(seconds=options.lease),
                limit=options.batch,
                claimer=self.claimer,
                render=channel.render,
            )
        )
        for index, item in enumerate(items):
            sent_at = self._clock()
            if sent_at >= stop_at:
                rest = [later.id for later in items[index:]]
                await self._ingest.run(partial(release, ids=rest, claimer=self.claimer))
                return True
            outcome = await channel.send(item)
            attempt = self._attempt(item, outcome, sent_at)
            await self._ingest.run(partial(record, attempts=[attempt], claimer=self.claimer))
            _log_attempt(channel.name, item, outcome, attempt)
            if outcome.verdict is Verdict.RETRY:
                # The destination is struggling: give the rest back and wait a little.
                rest = [later.id for later in items[index + 1 :]]
                await self._ingest.run(partial(release, ids=rest, claimer=self.claimer))
                return False
        return bool(items)

    def _attempt(self, item: OutboxItem, outcome: Outcome, sent_at: datetime) -> Attempt:
        now = self._clock()
        sent = sent_at if outcome.sent else None
        if outcome.verdict is Verdict.DELIVERED:
            return Attempt(item.id, DELIVERED, sent, acknowledged_at=now)
        if outcome.verdict is Verdict.DEAD:
            return Attempt(item.id, DEAD, sent, error=outcome.error)
        delay = backoff(
            item.attempts + 1, base=self._options.backoff_base, cap=self._options.backoff_max
        )
        return Attempt(
            item.id,
            PENDING,
            sent,
            error=outcome.error,
            next_attempt_at=now + timedelta(seconds=delay),
        )


def _log_attempt(destination: str, item: OutboxItem, outcome: Outcome, attempt: Attempt) -> None:
    # A destination's own words (an ACK's ERR-8) may quote patient data: DEBUG only.
    reason = (outcome.error or "").split(":", 1)[0]
    if outcome.error:
        log.debug("outbox %s: %s answered: %s", destination, item.event_id, outcome.error)
    if outcome.verdict is Verdict.DELIVERED:
        log.debug("outbox %s: %s %s delivered", destination, item.event_type, item.event_id)
    elif outcome.verdict is Verdict.DEAD:
        log.warning(
            "outbox %s: %s %s dead letter: %s",
            destination,
            item.event_type,
            item.event_id,
            reason,
        )
    else:
        log.warning(
            "outbox %s: %s %s not delivered (attempt %d), next at %s: %s",
            destination,
            item.event_type,
            item.event_id,
            item.attempts + 1,
            attempt.next_attempt_at,
            reason,
        )
