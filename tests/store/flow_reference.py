"""The flow figures by their straightforward definitions, straight from the orders: the
references the read models' answers are checked against (the statements store/flow.py ran
before the read models)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    String,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import Milestone, StepStatus
from store import figures
from store.reading.devices import order_device
from store.reading.sql import at, bucket, epoch_seconds
from store.reading.turnaround import TurnaroundQuery
from store.schema import devices, orders, procedure_steps

OPEN_STATUSES = tuple(
    m.value for m in Milestone if not m.ends_exam and m is not Milestone.FINAL_REPORT
)


@dataclass(frozen=True, slots=True)
class _FigureGroup:
    """One figure of one group as a statement returns it, in (fig, grp_num, grp_text) order."""

    fig: int
    grp_num: int
    grp_text: str
    n: int
    p50: float
    p90: float
    p95: float
    with_goal: int
    within_goal: int


async def ranked_figure_rows(
    conn: AsyncConnection,
    query: TurnaroundQuery,
    after: tuple[str, str] | None,
    limit: int,
    origin: datetime,
) -> list[_FigureGroup]:
    """Any database: the figures' values straight from the orders, each group's percentiles
    and each order's goal by the definitions (store.figures)."""
    dialect = conn.dialect.name
    by_day = query.group_by == "day"
    spans = figures.offset_spans(query.tz, query.start, query.end) if by_day else ()
    branches = []
    for rank, (name, (start_name, end_name)) in enumerate(figures.FIGURES.items()):
        if name not in query.figures:
            continue
        begin, end = orders.c[start_name], orders.c[end_name]
        if by_day:
            bound_spans = [
                (None if until is None else at(until), literal(offset, BigInteger))
                for until, offset in spans
            ]
            origin_seconds = literal(figures.wall_seconds(origin), BigInteger)
            group_number = bucket(dialect, end, bound_spans, origin_seconds, "day")
            group_text: ColumnElement[Any] = literal("", String)
        else:
            group_number = literal(0, BigInteger)
            group_text = _group_text(query.group_by)
        branches.append(
            select(
                literal(rank, Integer).label("fig"),
                group_number.label("grp_num"),
                group_text.label("grp_text"),
                (cast(_milliseconds(dialect, begin, end), Float) / 60000.0).label("v"),
                orders.c.modality,
                orders.c.priority,
                orders.c.patient_class,
            ).where(
                begin.is_not(None),
                end >= at(query.start),
                end < at(query.end),
                orders.c.cancelled_at.is_(None),
            )
        )
    values = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("values")
    assert after is None, "the reference reads whole lists"
    # The groups in the database's own order (its collation), each group's values by the
    # definition (store.figures.percentile), not by the read model's ranking statement.
    ordered = select(values).order_by(values.c.fig, values.c.grp_num, values.c.grp_text)
    names = list(figures.FIGURES)
    groups: dict[tuple[int, int, str], list[tuple[float, float | None]]] = {}
    for row in (await conn.execute(ordered)).mappings():
        key = (row["fig"], int(row["grp_num"]), row["grp_text"])
        goal = figures.goal_for(
            query.goals, names[row["fig"]], row["modality"], row["priority"], row["patient_class"]
        )
        groups.setdefault(key, []).append((float(row["v"]), goal))
    found = []
    for (fig, grp_num, grp_text), rows in groups.items():
        measured = [v for v, _ in rows]
        goals = [(v, goal) for v, goal in rows if goal is not None]
        found.append(
            _FigureGroup(
                fig,
                grp_num,
                grp_text,
                len(measured),
                *(figures.percentile(measured, p) for p in figures.PERCENTILES),
                len(goals),
                sum(1 for v, goal in goals if v <= goal),
            )
        )
    return found[: limit + 1]


def _group_text(group_by: str | None) -> ColumnElement[Any]:
    if group_by is None:
        return literal("", String)
    if group_by == "device":
        return order_device()
    return orders.c[group_by]


def _milliseconds(
    dialect: str, begin: ColumnElement[datetime], end: ColumnElement[datetime]
) -> ColumnElement[int]:
    """Whole milliseconds from `begin` to `end`, rounded half away from zero, exactly."""
    if dialect == "sqlite":
        # julianday() keeps whole milliseconds of each time, which can be 1 ms off the exact
        # difference: count the microseconds of the stored text instead.
        micro = (epoch_seconds(dialect, end) - epoch_seconds(dialect, begin)) * 1_000_000 + (
            cast(func.substr(end, 21, 6), BigInteger) - cast(func.substr(begin, 21, 6), BigInteger)
        )
        half = case((micro >= 0, literal(500, BigInteger)), else_=literal(-500, BigInteger))
        return (micro + half) // literal(1000, BigInteger)  # integers: divided toward zero
    return cast(func.round((extract("epoch", end) - extract("epoch", begin)) * 1000), BigInteger)


def open_step_device() -> ColumnElement[str]:
    """The device of the order's MPPS step in progress ("" if unnamed); NULL when none is."""
    return (
        select(func.coalesce(devices.c.ae_title, procedure_steps.c.station_ae_title))
        .select_from(
            procedure_steps.outerjoin(devices, procedure_steps.c.device_id == devices.c.id)
        )
        .where(
            procedure_steps.c.order_id == orders.c.id,
            procedure_steps.c.status == StepStatus.IN_PROGRESS.value,
        )
        .order_by(procedure_steps.c.started_at.asc().nulls_last(), procedure_steps.c.id)
        .limit(1)
        .scalar_subquery()
    )


def board_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The start and end of the board's day, local midnight to midnight."""
    return datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz)


async def every_page(
    read: Callable[..., Awaitable[Any]], conn: Any, query: Any, limit: int
) -> list[Any]:
    """The items of every page `read(conn, query, after=..., limit=limit)` gives, in order."""
    items: list[Any] = []
    after = None
    while True:
        page = await read(conn, query, after=after, limit=limit)
        items += page.items
        if page.next_key is None:
            return items
        after = page.next_key
