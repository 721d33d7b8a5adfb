"""The outbox at the HTTP door and on the app: the delivery resource, the list of rows with
their journey, and the operator's retry of a dead letter (audited as every operator action)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

from aiohttp import web

from gateway import paging
from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, OUTBOX, SETTINGS
from gateway.models.outbox import OutboxPage, OutboxPath, OutboxQuery, RetryOutcome
from gateway.problems import Conflict, NotFound
from gateway.settings import Settings
from mappers.hl7v2.status import StatusHeader
from outbound.delivery import Channel, Deliverer, DeliveryOptions, Hl7Channel, WebhookChannel
from outbound.mllp_client import MllpClient
from outbound.watch import Look, OutboxWatch
from outbound.webhook_client import WebhookClient
from store.fold.outbox import (
    DEAD,
    HL7,
    TURNAROUND_OVER_GOAL,
    UNMATCHED_STUDY,
    WEBHOOK,
    Destinations,
    Route,
)
from store.locks import UNMATCHED_LOCK_KEY, LeaderLock
from store.outbox import list_outbox, retry_dead
from store.outbox_overdue import owe_overdue_figures
from store.outbox_watch import owe_unmatched_studies

routes = Routes()


def outbox_destinations(settings: Settings) -> Destinations:
    """The destinations as the fold sees them: name, kind and events taken, and the flow
    goals when a webhook takes turnaround_over_goal."""
    outbound = settings.outbound
    routes = (
        *(Route(d.name, HL7, frozenset(d.events)) for d in outbound.hl7),
        *(Route(d.name, WEBHOOK, frozenset(d.events)) for d in outbound.webhooks),
    )
    watched = any(TURNAROUND_OVER_GOAL in route.events for route in routes)
    return Destinations(routes, dict(settings.flow.goals) if watched else {})


def clock_driven_looks(destinations: Destinations, unmatched_after: timedelta) -> list[Look]:
    """The looks the outbox watch runs: for each event a webhook takes that no message
    proves (an unmatched study, a figure still open past its goal)."""
    routes = destinations.routes
    taken = {event for r in routes if r.kind == WEBHOOK for event in r.events}
    looks: list[Look] = []
    if UNMATCHED_STUDY in taken:
        looks.append(partial(owe_unmatched_studies, routes=routes, older_than=unmatched_after))
    if TURNAROUND_OVER_GOAL in taken and destinations.goals:
        looks.append(partial(owe_overdue_figures, routes=routes, goals=destinations.goals))
    return looks


def channels(settings: Settings) -> list[Channel]:
    """One channel per configured destination."""
    found: list[Channel] = []
    for d in settings.outbound.hl7:
        header = StatusHeader(
            sending_application=d.sending_application or settings.hl7.application,
            sending_facility=d.sending_facility or settings.hl7.facility,
            receiving_application=d.receiving_application,
            receiving_facility=d.receiving_facility,
            version=d.version,
        )
        client = MllpClient(d.host, d.port, timeout=d.ack_timeout)
        found.append(Hl7Channel(d.name, client, header, dict(d.status_codes)))
    for w in settings.outbound.webhooks:
        client_ = WebhookClient(w.url, w.secret.get_secret_value(), timeout=w.timeout)
        found.append(WebhookChannel(w.name, client_))
    return found


async def outbox_delivery(app: web.Application) -> AsyncIterator[None]:
    """The deliverer, started with the app and stopped before the writer closes."""
    settings = app[SETTINGS]
    outbound = settings.outbound
    deliverer = Deliverer(
        app[INGEST],
        channels(settings),
        DeliveryOptions(
            poll_interval=outbound.poll_interval,
            lease=outbound.lease,
            backoff_base=outbound.backoff_base,
            backoff_max=outbound.backoff_max,
        ),
    )
    await deliverer.start()
    app[OUTBOX] = deliverer
    destinations = outbox_destinations(settings)
    looks = clock_driven_looks(
        destinations, timedelta(minutes=outbound.unmatched_study_after_minutes)
    )
    watch: OutboxWatch | None = None
    lock = LeaderLock(app[ENGINE], key=UNMATCHED_LOCK_KEY)
    if looks:
        watch = OutboxWatch(
            app[INGEST], looks, interval=outbound.unmatched_check_interval, is_leader=lock.held
        )
        await watch.start()
    yield
    if watch is not None:
        await watch.close()
    await lock.release()
    await deliverer.close()


@routes.get(
    "/api/v1/outbox",
    summary="What the gateway owes its destinations, newest first, with each row's journey "
    "(committed, claimed, sent, acknowledged, attempts, last error).",
    query=OutboxQuery,
    response=OutboxPage,
    errors=(400,),
)
async def outbox_list(request: web.Request, query: OutboxQuery) -> web.Response:
    """Outbox rows newest first, filtered by state and destination, paged by cursor."""
    after = paging.read_cursor(query.cursor, nullable_time=False)
    async with request.app[ENGINE].connect() as conn:
        page = await list_outbox(
            conn,
            state=query.state,
            destination=query.destination,
            after=after,
            limit=query.limit,
        )
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.post(
    "/api/v1/outbox/{id}/retry",
    summary="Send a dead letter again: it becomes pending, due now, with the same event id.",
    path_params=OutboxPath,
    response=RetryOutcome,
    errors=(400, 404, 409),
)
async def outbox_retry(request: web.Request, path: OutboxPath) -> web.Response:
    """Make a dead letter pending again (the operator role; the audit trail records it)."""
    now = datetime.now(UTC)
    before = await request.app[INGEST].run(partial(retry_dead, row_id=path.id, now=now))
    if before is None:
        raise NotFound(f"no outbox row with id {path.id}")
    if before != DEAD:
        raise Conflict(f"outbox row {path.id} is {before}; only a dead letter is retried")
    return json_response({"id": path.id, "state": "pending"})
