"""The `/api/v1` patient-flow routes: board, turnaround, volumes, unmatched items and linking.

Ranges are [from, to): turnaround selects each figure by its END time; volumes count each
measure at its own time. Both default to the 7 days before now. Cursors are opaque base64url
JSON of the last row's sort key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from gateway import paging
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, SETTINGS
from gateway.problems import BadRequest, Conflict, NotFound
from store import figures
from store.flow import (
    BOARD_STATES,
    GROUPS,
    UNMATCHED_KINDS,
    VOLUME_GROUPS,
    BoardQuery,
    TurnaroundQuery,
    VolumeQuery,
    list_unmatched,
    read_board,
    read_turnaround,
    read_volumes,
)
from store.linking import LinkOutcome, LinkRequest, link_unmatched

routes = web.RouteTableDef()

DEFAULT_RANGE = timedelta(days=7)
MAX_TURNAROUND_RANGE = timedelta(days=366)
# The longest range each volume interval may cover, to bound the number of buckets.
MAX_VOLUME_RANGE = {
    "hour": timedelta(days=31),
    "day": timedelta(days=366),
    "week": timedelta(days=3 * 366),
}
_PAGE = paging.PAGING_PARAMETERS
_MAX_ID = 2**63


@routes.get("/api/v1/flow/board")
async def flow_board(request: web.Request) -> web.Response:
    """The department now: open orders by state with counts by modality and device."""
    query = request.query
    paging.check_names(query, {"modality", "device", "state"} | _PAGE)
    board_query = BoardQuery(
        now=datetime.now(UTC),
        tz=request.app[SETTINGS].tz,
        modality=paging.read_one(query, "modality"),
        device=paging.read_one(query, "device"),
        states=paging.read_choices(query, "state", BOARD_STATES),
    )
    limit = paging.read_limit(query)
    after = _read_cursor(query, (_board_state, _instant, _row_id))
    async with request.app[ENGINE].connect() as conn:
        board = await read_board(conn, board_query, after=after, limit=limit)
    body = dataclasses.asdict(board)
    body["next_cursor"] = _encode_cursor(body.pop("next_key"))
    return json_response(body)


@routes.get("/api/v1/flow/turnaround")
async def flow_turnaround(request: web.Request) -> web.Response:
    """Turnaround figures (count, p50, p90, p95, share within goal) by group, END time in range."""
    query = request.query
    paging.check_names(query, {"from", "to", "group_by", "figure"} | _PAGE)
    start, end = _read_window(query, MAX_TURNAROUND_RANGE)
    settings = request.app[SETTINGS]
    turnaround_query = TurnaroundQuery(
        figures=_read_figures(query),
        start=start,
        end=end,
        tz=settings.tz,
        group_by=_read_choice(query, "group_by", GROUPS),
        goals=settings.flow.goals,
    )
    limit = paging.read_limit(query)
    after = _read_cursor(query, (_figure, _text))
    if turnaround_query.group_by == "day" and after is not None:
        _check_day_cursor(after[1])
    async with request.app[ENGINE].connect() as conn:
        page = await read_turnaround(conn, turnaround_query, after=after, limit=limit)
    return json_response(
        {
            "from": start,
            "to": end,
            "window": "end time",
            "group_by": turnaround_query.group_by,
            "items": page.items,
            "next_cursor": _encode_cursor(page.next_key),
        }
    )


@routes.get("/api/v1/flow/volumes")
async def flow_volumes(request: web.Request) -> web.Response:
    """Exams ordered, performed, reported, cancelled and not shown per local bucket and group."""
    query = request.query
    paging.check_names(query, {"from", "to", "interval", "group_by"} | _PAGE)
    interval = _read_choice(query, "interval", tuple(figures.INTERVAL_SECONDS)) or "day"
    start, end = _read_window(query, MAX_VOLUME_RANGE[interval])
    volume_query = VolumeQuery(
        start=start,
        end=end,
        tz=request.app[SETTINGS].tz,
        interval=interval,
        group_by=_read_choice(query, "group_by", VOLUME_GROUPS),
    )
    limit = paging.read_limit(query)
    after = _read_cursor(query, (_instant, _text))
    async with request.app[ENGINE].connect() as conn:
        page = await read_volumes(conn, volume_query, after=after, limit=limit)
    return json_response(
        {
            "from": start,
            "to": end,
            "interval": interval,
            "group_by": volume_query.group_by,
            "items": page.items,
            "next_cursor": _encode_cursor(page.next_key),
        }
    )


@routes.get("/api/v1/unmatched")
async def unmatched_list(request: web.Request) -> web.Response:
    """Studies and steps that match no order, and placeholder orders, newest first."""
    query = request.query
    paging.check_names(query, {"kind"} | _PAGE)
    kinds = paging.read_choices(query, "kind", UNMATCHED_KINDS) or UNMATCHED_KINDS
    limit = paging.read_limit(query)
    after = _read_cursor(query, (_instant, _kind, _row_id))
    async with request.app[ENGINE].connect() as conn:
        page = await list_unmatched(conn, kinds=kinds, after=after, limit=limit)
    return json_response({"items": page.items, "next_cursor": _encode_cursor(page.next_key)})


@routes.post(r"/api/v1/unmatched/{kind:study|procedure_step}/{id:\d+}/link")
async def unmatched_link(request: web.Request) -> web.Response:
    """Link an unmatched study or procedure step to an existing order by accession number."""
    kind = request.match_info["kind"]
    item_id = int(request.match_info["id"])
    if item_id >= _MAX_ID:
        raise NotFound(f"no {kind} with id {item_id}")
    raw = await request.read()
    accession = _read_accession(raw)
    link = LinkRequest(kind, item_id, accession, peer=request.remote or "", raw=raw)
    outcome = await link_unmatched(request.app[ENGINE], request.app[INGEST], link)
    match outcome:
        case LinkOutcome.NO_ITEM:
            raise NotFound(f"no {kind} with id {item_id}")
        case LinkOutcome.ALREADY_LINKED:
            raise Conflict(f"{kind} {item_id} is already linked to an order")
        case LinkOutcome.NO_ORDER:
            raise BadRequest(f"accession: no order with accession number {accession!r}")
    return json_response({"kind": kind, "id": item_id, "accession": accession, "linked": True})


# --- parameters -------------------------------------------------------------------------


def _read_window(query: MultiMapping[str], longest: timedelta) -> tuple[datetime, datetime]:
    """`from` (default: 7 days before `to`) and `to` (default: now).

    Raises:
        BadRequest: a bound is not a time, from is not before to, or the range is too long.
    """
    start, end = paging.read_range(query)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_RANGE
    if start >= end:
        raise BadRequest("from: must be before to")
    if end - start > longest:
        raise BadRequest(f"from: the range from..to may span at most {longest.days} days here")
    return start, end


def _read_choice(query: MultiMapping[str], name: str, allowed: Sequence[str]) -> str | None:
    """One value among `allowed`, or None when absent.

    Raises:
        BadRequest: the value is empty, repeated or not allowed.
    """
    value = paging.read_one(query, name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _read_figures(query: MultiMapping[str]) -> tuple[str, ...]:
    """The figures asked for, repeated or comma-separated; all when absent.

    Raises:
        BadRequest: a value is empty or names no figure.
    """
    names: list[str] = []
    for text in query.getall("figure", []):
        for value in text.split(","):
            name = value.strip()
            if name not in figures.FIGURES:
                raise BadRequest(f"figure: {name!r} is not one of {', '.join(figures.FIGURES)}")
            names.append(name)
    return tuple(dict.fromkeys(names)) or tuple(figures.FIGURES)


def _read_accession(raw: bytes) -> str:
    """The `accession` of a link request body, `{"accession": "..."}`.

    Raises:
        BadRequest: the body is not that JSON object.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest('body: not JSON; expected {"accession": "..."}') from None
    if not isinstance(body, dict):
        raise BadRequest('body: expected a JSON object {"accession": "..."}')
    for name in body:
        if name != "accession":
            raise BadRequest(f"{name}: unknown field; the body takes accession")
    accession = body.get("accession")
    if not isinstance(accession, str) or not accession.strip():
        raise BadRequest("accession: required, a non-empty string")
    return accession


# --- cursors ----------------------------------------------------------------------------


def _encode_cursor(key: Sequence[Any] | None) -> str | None:
    """The opaque cursor for a sort key; None for None (no further page)."""
    if key is None:
        return None
    parts = [part.isoformat() if isinstance(part, datetime) else part for part in key]
    return base64.urlsafe_b64encode(orjson.dumps(parts)).rstrip(b"=").decode("ascii")


def _read_cursor(
    query: MultiMapping[str], readers: Sequence[Callable[[Any], Any]]
) -> tuple[Any, ...] | None:
    """The sort key a `cursor` parameter carries, each part checked by its reader.

    Raises:
        BadRequest: the value is not a cursor this list issued.
    """
    text = paging.read_one(query, "cursor")
    if text is None:
        return None
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(parts, list) or len(parts) != len(readers):
            raise ValueError("not a sort key")
        return tuple(read(part) for read, part in zip(readers, parts, strict=True))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise BadRequest("cursor: not a cursor this list issued") from None


def _instant(value: Any) -> datetime:
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError("naive time")
    return instant


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def _row_id(value: Any) -> int:
    if type(value) is not int or not 0 <= value < _MAX_ID:
        raise ValueError("not a row id")
    return value


def _choice(allowed: Sequence[str]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in allowed:
            raise ValueError("not a known name")
        return value

    return read


_board_state = _choice(BOARD_STATES)
_kind = _choice(UNMATCHED_KINDS)
_figure = _choice(tuple(figures.FIGURES))


def _check_day_cursor(value: str) -> None:
    """Check a day group in a cursor.

    Raises:
        BadRequest: it is not an ISO date.
    """
    try:
        date.fromisoformat(value)
    except ValueError:
        raise BadRequest("cursor: not a cursor this list issued") from None
