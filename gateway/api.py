"""The `/api/v1` JSON routes of orders and the message log."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from gateway import paging
from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import ENGINE, HL7_RECEIVER
from gateway.models.lists import (
    AccessionPath,
    KeptMessage,
    MessagePage,
    MessagePath,
    MessageQuery,
    OrderPage,
    OrderQuery,
    ReplayOutcome,
)
from gateway.problems import Conflict, NotFound
from mappers.errors import MappingError
from mappers.hl7v2.charset import HL7_CHARSETS, decode_message
from mappers.hl7v2.er7 import parse_message
from store.ingest import Outcome
from store.queries import (
    MessageFilter,
    OrderFilter,
    OrderView,
    get_message,
    get_message_outcome,
    get_order,
    list_messages,
    list_orders,
)

routes = Routes()


@routes.get(
    "/api/v1/orders",
    summary="Orders, newest first, filtered and paged; orders without an order time last.",
    query=OrderQuery,
    response=OrderPage,
    errors=(400,),
)
async def order_list(request: web.Request, query: OrderQuery) -> web.Response:
    """Orders newest first, filtered and paged by cursor; orders without an order time last."""
    authority, identifier = _patient(query.patient)
    where = OrderFilter(
        statuses=query.status,
        modality=query.modality,
        patient_identifier=identifier,
        patient_authority=authority,
        accession=query.accession,
        priority=query.priority,
        patient_class=query.patient_class,
        ordered_from=query.from_,
        ordered_to=query.to,
    )
    after = paging.read_cursor(query.cursor, nullable_time=True)
    async with request.app[ENGINE].connect() as conn:
        page = await list_orders(conn, where, after=after, limit=query.limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.get(
    "/api/v1/orders/{accession}",
    summary="An order with its patient, appointment, milestones, timeline and reports.",
    path_params=AccessionPath,
    response=OrderView,
    errors=(400, 404),
)
async def order_detail(request: web.Request, path: AccessionPath) -> web.Response:
    """An order by accession number, with its patient, milestones, timeline and reports."""
    async with request.app[ENGINE].connect() as conn:
        order = await get_order(conn, path.accession)
    if order is None:
        raise NotFound(f"no order with accession number {path.accession!r}")
    return json_response(order)


@routes.get(
    "/api/v1/messages",
    summary="The message log, newest first (without message content).",
    query=MessageQuery,
    response=MessagePage,
    errors=(400,),
)
async def message_list(request: web.Request, query: MessageQuery) -> web.Response:
    """The message log newest first, filtered and paged by cursor; without message content."""
    where = MessageFilter(
        outcomes=query.outcome,
        message_type=query.type,
        control_id=query.control_id,
        received_from=query.from_,
        received_to=query.to,
    )
    after = paging.read_cursor(query.cursor, nullable_time=False)
    async with request.app[ENGINE].connect() as conn:
        page = await list_messages(conn, where, after=after, limit=query.limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.get(
    "/api/v1/messages/{id}",
    summary="One kept message, with its content as text.",
    path_params=MessagePath,
    response=KeptMessage,
    errors=(400, 404),
)
async def message_detail(request: web.Request, path: MessagePath) -> web.Response:
    """A message log entry with its content as text."""
    async with request.app[ENGINE].connect() as conn:
        kept = await get_message(conn, path.id)
    if kept is None:
        raise NotFound(f"no message with id {path.id}")
    return json_response(
        {**dataclasses.asdict(kept.view), "raw": _text_of(kept.raw, kept.view.charset)}
    )


@routes.post(
    "/api/v1/messages/{id}/replay",
    summary="Process a kept HL7 message that was not applied again, through the intake path.",
    path_params=MessagePath,
    response=ReplayOutcome,
    errors=(400, 404, 409),
)
async def message_replay(request: web.Request, path: MessagePath) -> web.Response:
    """Process a kept HL7 v2 message again through the intake path; answer its new outcome."""
    message_id = path.id
    async with request.app[ENGINE].connect() as conn:
        kept = await get_message(conn, message_id)
    if kept is None:
        raise NotFound(f"no message with id {message_id}")
    if kept.view.protocol != "hl7v2":
        raise Conflict(f"message {message_id} is {kept.view.protocol}; only HL7 v2 is replayed")
    if kept.view.outcome == Outcome.APPLIED:
        raise Conflict(f"message {message_id} is already applied; nothing to replay")
    ack = await request.app[HL7_RECEIVER].handle(kept.raw, f"replay:{message_id}", replay=True)
    async with request.app[ENGINE].connect() as conn:
        outcome = await get_message_outcome(conn, message_id)
    return json_response({"message_id": message_id, "outcome": outcome, "ack_code": _ack_code(ack)})


def _patient(text: str | None) -> tuple[str | None, str | None]:
    """(authority, identifier) from `identifier` or `authority|identifier` (the model's pattern
    guarantees neither part is empty)."""
    if text is None:
        return None, None
    authority, bar, identifier = text.rpartition("|")
    return (authority if bar else None), identifier


def _text_of(raw: bytes, charset: str | None) -> str:
    """The kept bytes as text in their character set, else one character per byte (latin-1)."""
    codec = HL7_CHARSETS.get(charset or "")
    if codec is not None:
        try:
            return raw.decode(codec).lstrip("\ufeff")
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def _ack_code(ack: bytes | None) -> str | None:
    """MSA-1 of an acknowledgement; None when there is none or it cannot be read."""
    if ack is None:
        return None
    try:
        text, _ = decode_message(ack, "8859/1")
        return parse_message(text).value("MSA-1") or None
    except MappingError:
        return None
