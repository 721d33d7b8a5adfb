"""The board: the department now, read from the board state the fold keeps per open order.

A stored state is shown as it is, except "scheduled", which is shown as scheduled_today on
its appointment's facility-local day and not at all on other days (store.fold.readmodels
says how each state, its start and its device are worked out).
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from store import figures
from store.fold.readmodels import STORED_STATES
from store.paging import after_key
from store.schema import UtcDateTime, board_orders, orders, patients

BOARD_STATES = ("ordered", "scheduled_today", "waiting", "in_exam", "awaiting_report")
# The time each state began: the earliest of these that is set.
STATE_SINCE: Mapping[str, tuple[str, ...]] = {
    "ordered": ("ordered_at",),
    "scheduled_today": ("scheduled_start",),
    "waiting": ("arrived_at",),
    "in_exam": ("exam_started_at",),
    "awaiting_report": ("exam_completed_at", "images_available_at", "preliminary_report_at"),
}
_SHOWN = dict(zip(STORED_STATES, BOARD_STATES, strict=True))


# The board's items are not frozen: a frozen dataclass sets each field through
# object.__setattr__, ten times the cost of a plain one, and a page builds a hundred of them.
@dataclass(slots=True)
class BoardPatient:
    """The patient of an order on the board."""

    identifier: str
    authority: str
    family_name: str
    given_name: str


@dataclass(slots=True)
class BoardItem:
    """An open order on the board, in one state since `since`."""

    state: str
    since: datetime
    accession: str
    status: str
    modality: str
    priority: str
    patient_class: str
    procedure_code: str
    procedure_text: str
    device: str
    scheduled_resource: str
    patient: BoardPatient | None
    ordered_at: datetime | None
    scheduled_start: datetime | None
    arrived_at: datetime | None
    exam_started_at: datetime | None
    exam_completed_at: datetime | None
    images_available_at: datetime | None
    preliminary_report_at: datetime | None
    minutes_waiting: float | None  # waiting only: now - arrived_at


@dataclass(frozen=True, slots=True)
class BoardQuery:
    """What the board shows: the department at `now` (today in `tz`), narrowed by filters."""

    now: datetime
    tz: ZoneInfo
    modality: str | None = None
    device: str | None = None
    states: tuple[str, ...] = ()  # narrows the items, not the counts


@dataclass(frozen=True, slots=True)
class Board:
    """Counts per state (overall, by modality, by device) and one page of the items."""

    now: datetime
    day: date
    counts: dict[str, int]
    by_modality: dict[str, dict[str, int]]
    by_device: dict[str, dict[str, int]]
    items: tuple[BoardItem, ...]
    next_key: tuple[str, datetime, int] | None = None


_ORDER_DETAILS = (
    "accession",
    "status",
    "priority",
    "patient_class",
    "procedure_code",
    "procedure_text",
    "scheduled_resource",
    "ordered_at",
    "scheduled_start",
    "arrived_at",
    "exam_started_at",
    "exam_completed_at",
    "images_available_at",
    "preliminary_report_at",
)
_PATIENT_DETAILS = ("identifier", "authority", "family_name", "given_name")
_DETAILS = ("modality", *_ORDER_DETAILS, *_PATIENT_DETAILS)
# The board statement's columns, in order; its rows are read by position.
COLUMNS = ("order_id", "state", "since", "device", "board_modality", "n", "rank", *_DETAILS)
_AT = {name: number for number, name in enumerate(COLUMNS)}
_ORDER_ID, _STATE, _SINCE, _DEVICE, _BOARD_MODALITY, _N, _ARRIVED_AT, _IDENTIFIER = (
    _AT[name]
    for name in (
        "order_id",
        "state",
        "since",
        "device",
        "board_modality",
        "n",
        "arrived_at",
        "identifier",
    )
)
_ITEM_FIELDS = [item_field.name for item_field in fields(BoardItem)]
_PATIENT_AT = _ITEM_FIELDS.index("patient")
# BoardItem's fields between `since` and `patient`, and between `patient` and
# `minutes_waiting`, picked from a row at once.
_HEAD = itemgetter(*(_AT[name] for name in _ITEM_FIELDS[2:_PATIENT_AT]))
_TIMES = itemgetter(*(_AT[name] for name in _ITEM_FIELDS[_PATIENT_AT + 1 : -1]))
_PATIENT = itemgetter(*(_AT[name] for name in _PATIENT_DETAILS))


async def read_board(
    conn: AsyncConnection, query: BoardQuery, *, after: tuple[str, datetime, int] | None, limit: int
) -> Board:
    """The department now: open orders by state, counted and listed.

    One statement, so one snapshot and one round trip: the counts per state, modality and
    device (rows without an order), then the page's rows with their order and patient."""
    day = figures.local_date(query.now, query.tz)
    shape = _Shape(query.modality is not None, query.device is not None, query.states, bool(after))
    params: dict[str, Any] = {
        "day_start": datetime.combine(day, time(), query.tz),
        "day_end": datetime.combine(day + timedelta(days=1), time(), query.tz),
        "modality": query.modality,
        "device": query.device,
        "limit": limit + 1,
    }
    if after is not None:
        state, since, order_id = after
        params |= {"after_rank": BOARD_STATES.index(state), "after_since": since}
        params["after_id"] = order_id
    counts_all: Counter[str] = Counter()
    by_modality: dict[str, Counter[str]] = defaultdict(Counter)
    by_device: dict[str, Counter[str]] = defaultdict(Counter)
    rows = []
    # Rows read by position (COLUMNS): a page is about a hundred rows of 25 values, and a
    # lookup by name costs more than everything else done with the value.
    for row in await conn.execute(_board_statement(shape), params):
        if row[_ORDER_ID] is not None:
            rows.append(row)
            continue
        state, n = _SHOWN[row[_STATE]], row[_N]
        counts_all[state] += n
        by_modality[row[_BOARD_MODALITY]][state] += n
        by_device[row[_DEVICE]][state] += n
    items = [_board_item(row, query.now) for row in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last = items[-1]
        next_key = (last.state, last.since, rows[limit - 1][_ORDER_ID])
    return Board(
        now=query.now,
        day=day,
        counts=_state_counts(counts_all),
        by_modality={name: _state_counts(c) for name, c in sorted(by_modality.items())},
        by_device={name: _state_counts(c) for name, c in sorted(by_device.items())},
        items=tuple(items),
        next_key=next_key,
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a board query's statements depend on beyond their parameters: which filters are
    set and whether a page follows another. Each shape's statements are built once (building
    them cost more than running them on a department's few thousand board rows)."""

    modality: bool
    device: bool
    states: tuple[str, ...]
    paged: bool


@functools.lru_cache(maxsize=64)
def _board_statement(shape: _Shape) -> Select[Any]:
    """The counts (order_id NULL), then the page's rows in board order."""
    b = board_orders.c
    shown = _shown(shape)
    counted = select(
        null().label("order_id"),
        b.state,
        null().label("since"),
        b.device,
        b.modality.label("board_modality"),
        func.count().label("n"),
        null().label("rank"),
        *(null().label(name) for name in _DETAILS),
    ).where(shown)
    counted = counted.group_by(b.state, b.modality, b.device)
    # The page is picked from the board rows alone (a few thousand small rows), each state's
    # read in order from the index on (state, since, order_id) up to the page's length; only
    # the page's rows are joined to their order and patient.
    wanted = shape.states or BOARD_STATES
    picks = [_picked(shape, STORED_STATES[BOARD_STATES.index(state)]) for state in wanted]
    limited = union_all(*picks) if len(picks) > 1 else picks[0]
    limited = limited.order_by("rank", "since", "order_id").limit(bindparam("limit", type_=Integer))
    page = limited.subquery("page")
    listed = select(
        page.c.order_id,
        page.c.state,
        page.c.since,
        page.c.device,
        null().label("board_modality"),
        literal(0, Integer).label("n"),
        page.c.rank,
        orders.c.modality,
        *(orders.c[name] for name in _ORDER_DETAILS),
        *(patients.c[name] for name in _PATIENT_DETAILS),
    ).select_from(
        page.join(orders, orders.c.id == page.c.order_id).outerjoin(
            patients, orders.c.patient_id == patients.c.id
        )
    )
    both = union_all(listed, counted).subquery("board")
    # Counts first (a NULL order sorts first only when asked to), then the page in order.
    first = case((both.c.order_id.is_(None), 0), else_=1)
    return select(*both.c).order_by(first, both.c.rank, both.c.since, both.c.order_id)


def _picked(shape: _Shape, state: str) -> Select[Any]:
    """Up to a page of one state's rows on the board, in board order, after the cursor."""
    b = board_orders.c
    rank = literal(STORED_STATES.index(state), Integer)
    picked = select(b.order_id, b.state, b.since, b.device, rank.label("rank"))
    picked = picked.where(_in_state(state), *_filters(shape))
    if shape.paged:
        after = (
            bindparam("after_rank", type_=Integer),
            bindparam("after_since", type_=UtcDateTime()),
            bindparam("after_id", type_=BigInteger),
        )
        picked = picked.where(after_key((rank, b.since, b.order_id), after))
    limited = picked.order_by(b.since, b.order_id).limit(bindparam("limit", type_=Integer))
    # Wrapped: SQLite takes no ORDER BY or LIMIT on a member of a UNION itself.
    return select(*limited.subquery(f"picked_{state}").c)


def _shown(shape: _Shape) -> ColumnElement[bool]:
    """The rows on the board today, narrowed by modality and device."""
    return and_(or_(*(_in_state(state) for state in STORED_STATES)), *_filters(shape))


def _in_state(state: str) -> ColumnElement[bool]:
    """A stored state's rows on the board today (day_start and day_end are parameters)."""
    b = board_orders.c
    if state != "scheduled":
        return b.state == state
    # A scheduled row's since is its appointment (store.fold.readmodels.board_row), so today's
    # are a short range of the index on (state, since), not a filter over every future one.
    return and_(
        b.state == state,
        b.since >= bindparam("day_start", type_=UtcDateTime()),
        b.since < bindparam("day_end", type_=UtcDateTime()),
    )


def _filters(shape: _Shape) -> list[ColumnElement[bool]]:
    b = board_orders.c
    conditions = []
    if shape.modality:
        conditions.append(b.modality == bindparam("modality", type_=String))
    if shape.device:
        conditions.append(b.device == bindparam("device", type_=String))
    return conditions


def _board_item(row: Sequence[Any], now: datetime) -> BoardItem:
    state = _SHOWN[row[_STATE]]
    patient = BoardPatient(*_PATIENT(row)) if row[_IDENTIFIER] is not None else None
    waiting = (now - row[_ARRIVED_AT]) / timedelta(minutes=1) if state == "waiting" else None
    return BoardItem(state, row[_SINCE], *_HEAD(row), patient, *_TIMES(row), waiting)


def _state_counts(counter: Counter[str]) -> dict[str, int]:
    return {state: counter[state] for state in BOARD_STATES}
