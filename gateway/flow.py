"""The `/api/v1` patient-flow routes: board, turnaround, volumes, unmatched items and linking.

Ranges are [from, to): turnaround selects each figure by its END time; volumes count each
measure at its own time. Both default to the 7 days before now.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from aiohttp import web

from gateway import paging
from gateway.contract.registry import Routes
from gateway.contract.types import to_utc
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, SETTINGS
from gateway.models.flow import (
    MAX_TURNAROUND_DAYS,
    MAX_VOLUME_DAYS,
    BoardPage,
    BoardQuery,
    FigureOrdersQuery,
    LinkBody,
    Linked,
    LinkPath,
    TurnaroundPage,
    TurnaroundQuery,
    UnmatchedPage,
    UnmatchedQuery,
    VolumesPage,
    VolumesQuery,
)
from gateway.models.lists import OrderPage
from gateway.problems import BadRequest, Conflict, NotFound
from store import figures
from store.engine import single_statement_read, snapshot_read
from store.linking import LinkOutcome, LinkRequest, link_unmatched
from store.queries import OrderFilter, list_orders
from store.reading import board as store_board
from store.reading import turnaround as store_turnaround
from store.reading import volumes as store_volumes
from store.reading.board import BOARD_STATES, read_board
from store.reading.turnaround import read_turnaround
from store.reading.unmatched import UNMATCHED_KINDS, list_unmatched
from store.reading.volumes import read_volumes

DEFAULT_RANGE = timedelta(days=7)

routes = Routes()


@routes.get(
    "/api/v1/flow/board",
    summary="The department now: open orders by state, with counts by modality and device.",
    query=BoardQuery,
    response=BoardPage,
    errors=(400,),
)
async def flow_board(request: web.Request, query: BoardQuery) -> web.Response:
    """The department now: open orders by state with counts by modality and device."""
    board_query = store_board.BoardQuery(
        now=datetime.now(UTC),
        tz=request.app[SETTINGS].tz,
        modality=query.modality,
        device=query.device,
        states=query.state,
    )
    readers = (paging.choice(BOARD_STATES), paging.instant, paging.row_id)
    after = paging.read_parts(query.cursor, readers)
    async with single_statement_read(request.app[ENGINE]) as conn:
        board = await read_board(conn, board_query, after=after, limit=query.limit)
    # The items go to orjson as they are: it writes dataclasses itself, where
    # dataclasses.asdict would deep-copy every field of every item first.
    body = {field.name: getattr(board, field.name) for field in dataclasses.fields(board)}
    body["next_cursor"] = paging.encode_cursor(body.pop("next_key"))
    return json_response(body)


@routes.get(
    "/api/v1/flow/turnaround",
    summary="Count, p50, p90, p95 and share within goal of each figure, by group.",
    description="A figure counts when its END time is in [from, to) (default: the last 7 days).",
    query=TurnaroundQuery,
    response=TurnaroundPage,
    errors=(400,),
    repeatable=frozenset({"figure"}),
)
async def flow_turnaround(request: web.Request, query: TurnaroundQuery) -> web.Response:
    """Turnaround figures (count, p50, p90, p95, share within goal) by group, END time in range."""
    start, end = _window(query.from_, query.to, MAX_TURNAROUND_DAYS)
    settings = request.app[SETTINGS]
    turnaround_query = store_turnaround.TurnaroundQuery(
        figures=query.figure or tuple(figures.FIGURES),
        start=start,
        end=end,
        tz=settings.tz,
        group_by=query.group_by,
        goals=settings.flow.goals,
    )
    group = paging.day if query.group_by == "day" else paging.text
    after = paging.read_parts(query.cursor, (paging.choice(tuple(figures.FIGURES)), group))
    async with snapshot_read(request.app[ENGINE]) as conn:
        page = await read_turnaround(conn, turnaround_query, after=after, limit=query.limit)
    return json_response(
        {
            "from": start,
            "to": end,
            "window": "end time",
            "group_by": query.group_by,
            "items": page.items,
            "next_cursor": paging.encode_cursor(page.next_key),
        }
    )


@routes.get(
    "/api/v1/flow/turnaround/orders",
    summary="The orders a turnaround figure counts, for one group: what a bar stands for.",
    description="An order counts when it has the figure and the figure's END time is in "
    "[from, to) (default: the last 7 days); cancelled orders do not count.",
    query=FigureOrdersQuery,
    response=OrderPage,
    errors=(400,),
)
async def flow_turnaround_orders(request: web.Request, query: FigureOrdersQuery) -> web.Response:
    """The orders behind a turnaround figure, newest first, narrowed to one group."""
    start, end = _window(query.from_, query.to, MAX_TURNAROUND_DAYS)
    where = OrderFilter(
        modality=query.modality,
        priority=query.priority,
        patient_class=query.patient_class,
        figure=query.figure,
        figure_ended_from=start,
        figure_ended_to=end,
    )
    after = paging.read_cursor(query.cursor, nullable_time=True)
    async with request.app[ENGINE].connect() as conn:
        page = await list_orders(conn, where, after=after, limit=query.limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.get(
    "/api/v1/flow/volumes",
    summary="Exams ordered, performed, reported, cancelled and not shown per local bucket.",
    query=VolumesQuery,
    response=VolumesPage,
    errors=(400,),
)
async def flow_volumes(request: web.Request, query: VolumesQuery) -> web.Response:
    """Exams ordered, performed, reported, cancelled and not shown per local bucket and group."""
    start, end = _window(query.from_, query.to, MAX_VOLUME_DAYS[query.interval])
    volume_query = store_volumes.VolumeQuery(
        start=start,
        end=end,
        tz=request.app[SETTINGS].tz,
        interval=query.interval,
        group_by=query.group_by,
    )
    after = paging.read_parts(query.cursor, (paging.instant, paging.text))
    async with request.app[ENGINE].connect() as conn:
        page = await read_volumes(conn, volume_query, after=after, limit=query.limit)
    return json_response(
        {
            "from": start,
            "to": end,
            "interval": query.interval,
            "group_by": query.group_by,
            "items": page.items,
            "next_cursor": paging.encode_cursor(page.next_key),
        }
    )


@routes.get(
    "/api/v1/unmatched",
    summary="Studies and procedure steps that match no order, and placeholder orders.",
    query=UnmatchedQuery,
    response=UnmatchedPage,
    errors=(400,),
)
async def unmatched_list(request: web.Request, query: UnmatchedQuery) -> web.Response:
    """Studies and steps that match no order, and placeholder orders, newest first."""
    kinds = query.kind or UNMATCHED_KINDS
    readers = (paging.instant, paging.choice(UNMATCHED_KINDS), paging.row_id)
    after = paging.read_parts(query.cursor, readers)
    async with request.app[ENGINE].connect() as conn:
        page = await list_unmatched(conn, kinds=kinds, after=after, limit=query.limit)
    return json_response({"items": page.items, "next_cursor": paging.encode_cursor(page.next_key)})


@routes.post(
    "/api/v1/unmatched/{kind}/{id}/link",
    summary="Link an unmatched study or procedure step to an order by accession (operator).",
    description="An accession number no order has is answered 409.",
    path_params=LinkPath,
    body=LinkBody,
    response=Linked,
    errors=(400, 404, 409),
)
async def unmatched_link(request: web.Request, path: LinkPath, body: LinkBody) -> web.Response:
    """Link an unmatched study or procedure step to an existing order by accession number."""
    raw = await request.read()
    link = LinkRequest(path.kind, path.id, body.accession, peer=request.remote or "", raw=raw)
    outcome = await link_unmatched(request.app[ENGINE], request.app[INGEST], link)
    match outcome:
        case LinkOutcome.NO_ITEM:
            raise NotFound(f"no {path.kind} with id {path.id}")
        case LinkOutcome.ALREADY_LINKED:
            raise Conflict(f"{path.kind} {path.id} is already linked to an order")
        case LinkOutcome.NO_ORDER:
            raise Conflict(f"accession: no order with accession number {body.accession!r}")
    return json_response(
        {"kind": path.kind, "id": path.id, "accession": body.accession, "linked": True}
    )


def _window(
    start: datetime | None, end: datetime | None, longest_days: int
) -> tuple[datetime, datetime]:
    """`from` (default: 7 days before `to`) and `to` (default: now).

    Raises:
        BadRequest: from is not before to, or the range is longer than `longest_days`.
    """
    end = end or datetime.now(UTC)
    if start is None:
        try:
            start = end - DEFAULT_RANGE
        except OverflowError:
            start = to_utc(datetime.min.replace(tzinfo=UTC))
    if start >= end:
        raise BadRequest("from: must be before to")
    if end - start > timedelta(days=longest_days):
        raise BadRequest(f"from: the range from..to may span at most {longest_days} days here")
    return start, end
