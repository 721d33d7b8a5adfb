"""The `/api/v1` JSON routes."""

from __future__ import annotations

import dataclasses
import re

from aiohttp import web

from gateway import paging
from gateway.jsonio import json_response
from gateway.keys import ENGINE, HL7_RECEIVER
from gateway.problems import BadRequest, Conflict, NotFound
from mappers.errors import MappingError
from mappers.events import Milestone
from mappers.hl7v2.charset import HL7_CHARSETS, decode_message
from mappers.hl7v2.er7 import parse_message
from store.ingest import Outcome
from store.queries import (
    MessageFilter,
    OrderFilter,
    get_message,
    get_message_outcome,
    get_order,
    list_messages,
    list_orders,
)

routes = web.RouteTableDef()

_MILESTONES = tuple(m.value for m in Milestone)
_OUTCOMES = tuple(o.value for o in Outcome)
_ORDER_PARAMETERS = {"status", "modality", "patient", "accession", "from", "to"}
_MESSAGE_PARAMETERS = {"outcome", "type", "control_id", "from", "to"}
_MESSAGE_TYPE = re.compile(r"[A-Z0-9]{3}(\^[A-Z0-9]{3})?")


@routes.get("/api/v1/orders")
async def order_list(request: web.Request) -> web.Response:
    """Orders newest first, filtered and paged by cursor; orders without an order time last."""
    query = request.query
    paging.check_names(query, _ORDER_PARAMETERS | paging.PAGING_PARAMETERS)
    authority, identifier = _patient(paging.read_one(query, "patient"))
    ordered_from, ordered_to = paging.read_range(query)
    where = OrderFilter(
        statuses=paging.read_choices(query, "status", _MILESTONES),
        modality=paging.read_one(query, "modality"),
        patient_identifier=identifier,
        patient_authority=authority,
        accession=paging.read_one(query, "accession"),
        ordered_from=ordered_from,
        ordered_to=ordered_to,
    )
    limit = paging.read_limit(query)
    after = paging.read_cursor(query, nullable_time=True)
    async with request.app[ENGINE].connect() as conn:
        page = await list_orders(conn, where, after=after, limit=limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.get("/api/v1/orders/{accession}")
async def order_detail(request: web.Request) -> web.Response:
    """An order by accession number, with its patient, milestones, timeline and reports."""
    accession = request.match_info["accession"]
    async with request.app[ENGINE].connect() as conn:
        order = await get_order(conn, accession)
    if order is None:
        raise NotFound(f"no order with accession number {accession!r}")
    return json_response(order)


@routes.get("/api/v1/messages")
async def message_list(request: web.Request) -> web.Response:
    """The message log newest first, filtered and paged by cursor; without message content."""
    query = request.query
    paging.check_names(query, _MESSAGE_PARAMETERS | paging.PAGING_PARAMETERS)
    received_from, received_to = paging.read_range(query)
    where = MessageFilter(
        outcomes=paging.read_choices(query, "outcome", _OUTCOMES),
        message_type=_message_type(paging.read_one(query, "type")),
        control_id=paging.read_one(query, "control_id"),
        received_from=received_from,
        received_to=received_to,
    )
    limit = paging.read_limit(query)
    after = paging.read_cursor(query, nullable_time=False)
    async with request.app[ENGINE].connect() as conn:
        page = await list_messages(conn, where, after=after, limit=limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.get(r"/api/v1/messages/{id:\d+}")
async def message_detail(request: web.Request) -> web.Response:
    """A message log entry with its content as text."""
    message_id = _message_id(request)
    async with request.app[ENGINE].connect() as conn:
        kept = await get_message(conn, message_id)
    if kept is None:
        raise NotFound(f"no message with id {message_id}")
    return json_response(
        {**dataclasses.asdict(kept.view), "raw": _text_of(kept.raw, kept.view.charset)}
    )


@routes.post(r"/api/v1/messages/{id:\d+}/replay")
async def message_replay(request: web.Request) -> web.Response:
    """Process a kept HL7 v2 message again through the intake path; answer its new outcome."""
    message_id = _message_id(request)
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
    """(authority, identifier) from `identifier` or `authority|identifier`.

    Raises:
        BadRequest: either part is empty.
    """
    if text is None:
        return None, None
    authority, bar, identifier = text.rpartition("|")
    if not identifier or (bar and not authority):
        raise BadRequest(f"patient: {text!r} is not identifier or authority|identifier")
    return (authority if bar else None), identifier


def _message_type(text: str | None) -> str | None:
    """A message type `ORM^O01`, or a family `ORM`.

    Raises:
        BadRequest: the value is neither.
    """
    if text is not None and not _MESSAGE_TYPE.fullmatch(text):
        raise BadRequest(f"type: {text!r} is not a message type (ORM^O01) or family (ORM)")
    return text


def _message_id(request: web.Request) -> int:
    """The `{id}` of a message route.

    Raises:
        NotFound: the id is beyond any row id (a 64-bit integer).
    """
    message_id = int(request.match_info["id"])
    if message_id >= 2**63:
        raise NotFound(f"no message with id {message_id}")
    return message_id


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
