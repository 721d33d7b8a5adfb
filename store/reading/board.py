"""The board: the department now, read from the board state the fold keeps per open order.

A stored state is shown as it is, except "scheduled", which is shown as scheduled_today on
its appointment's facility-local day and not at all on other days (store.fold.readmodels
says how each state, its start and its device are worked out).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store import figures
from store.fold.readmodels import STORED_STATES
from store.paging import after_key
from store.reading.sql import at
from store.schema import board_orders, orders, patients

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


@dataclass(frozen=True, slots=True)
class BoardPatient:
    """The patient of an order on the board."""

    identifier: str
    authority: str
    family_name: str
    given_name: str


@dataclass(frozen=True, slots=True)
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


async def read_board(
    conn: AsyncConnection, query: BoardQuery, *, after: tuple[str, datetime, int] | None, limit: int
) -> Board:
    """The department now: open orders by state, counted and listed (two statements: the
    counts per state, modality and device, and the page's rows with their order and patient)."""
    day = figures.local_date(query.now, query.tz)
    b = board_orders.c
    rank = case({name: n for n, name in enumerate(STORED_STATES)}, value=b.state)
    shown = _shown(day, query)
    counted = (
        select(b.state, b.modality, b.device, func.count().label("n"))
        .where(shown)
        .group_by(b.state, b.modality, b.device)
    )
    counts_all: Counter[str] = Counter()
    by_modality: dict[str, Counter[str]] = defaultdict(Counter)
    by_device: dict[str, Counter[str]] = defaultdict(Counter)
    for row in (await conn.execute(counted)).mappings():
        state = _SHOWN[row["state"]]
        counts_all[state] += row["n"]
        by_modality[row["modality"]][state] += row["n"]
        by_device[row["device"]][state] += row["n"]
    # The page is picked from the board rows alone (a few thousand small rows), and only its
    # rows are joined to their order and patient.
    picked = select(b.order_id, b.state, b.since, b.device, rank.label("rank")).where(shown)
    if query.states:
        stored = [STORED_STATES[BOARD_STATES.index(s)] for s in query.states]
        picked = picked.where(b.state.in_(stored))
    if after is not None:
        state, since, order_id = after
        picked = picked.where(
            after_key((rank, b.since, b.order_id), (BOARD_STATES.index(state), at(since), order_id))
        )
    page = picked.order_by(rank, b.since, b.order_id).limit(limit + 1).subquery("page")
    listed = (
        select(
            page.c.order_id,
            page.c.state,
            page.c.since,
            page.c.device,
            orders.c.modality,
            *(orders.c[name] for name in _ORDER_DETAILS),
            *(patients.c[name] for name in _PATIENT_DETAILS),
        )
        .select_from(
            page.join(orders, orders.c.id == page.c.order_id).outerjoin(
                patients, orders.c.patient_id == patients.c.id
            )
        )
        .order_by(page.c.rank, page.c.since, page.c.order_id)
    )
    rows = list((await conn.execute(listed)).mappings())
    items = [_board_item(row, query.now) for row in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last = items[-1]
        next_key = (last.state, last.since, rows[limit - 1]["order_id"])
    return Board(
        now=query.now,
        day=day,
        counts=_state_counts(counts_all),
        by_modality={name: _state_counts(c) for name, c in sorted(by_modality.items())},
        by_device={name: _state_counts(c) for name, c in sorted(by_device.items())},
        items=tuple(items),
        next_key=next_key,
    )


def _shown(day: date, query: BoardQuery) -> ColumnElement[bool]:
    """The rows on the board today, narrowed by modality and device."""
    b = board_orders.c
    start = datetime.combine(day, time(), query.tz)
    end = datetime.combine(day + timedelta(days=1), time(), query.tz)
    today = and_(b.scheduled_start >= at(start), b.scheduled_start < at(end))
    conditions: list[Any] = [or_(b.state != "scheduled", today)]
    if query.modality is not None:
        conditions.append(b.modality == query.modality)
    if query.device is not None:
        conditions.append(b.device == query.device)
    return and_(*conditions)


def _board_item(row: Mapping[str, Any], now: datetime) -> BoardItem:
    state = _SHOWN[row["state"]]
    patient = (
        BoardPatient(*(row[name] for name in _PATIENT_DETAILS))
        if row["identifier"] is not None
        else None
    )
    waiting = (now - row["arrived_at"]) / timedelta(minutes=1) if state == "waiting" else None
    return BoardItem(
        state=state,
        since=row["since"],
        device=row["device"],
        modality=row["modality"],
        patient=patient,
        minutes_waiting=waiting,
        **{name: row[name] for name in _ORDER_DETAILS},
    )


def _state_counts(counter: Counter[str]) -> dict[str, int]:
    return {state: counter[state] for state in BOARD_STATES}
