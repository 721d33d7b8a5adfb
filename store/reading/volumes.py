"""Volumes per facility-local hour, day or week, read from the hourly counts the fold keeps.

Per bucket: ordered (ordered_at), performed (exam_completed_at, else images_available_at when
no exam start is known), reported (final_report_at), cancelled (the earlier of cancelled_at
and discontinued_at), no-shows (no_show_at). The whole facility hours inside [start, end) are
summed from `volume_hours`; a part hour at either edge of a window that does not begin or end
on an hour is counted from the orders themselves, so any window gives the exact counts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from store import figures
from store.fold.readmodels import VOLUME_MEASURES, facility_hour
from store.paging import Page, after_key, page_of
from store.reading.devices import order_device
from store.reading.sql import bucket
from store.schema import UtcDateTime, orders, volume_hours

VOLUME_GROUPS = ("modality", "device")


@dataclass(frozen=True, slots=True)
class VolumeQuery:
    """Counts per facility-local bucket over [start, end), optionally per group."""

    start: datetime  # inclusive
    end: datetime  # exclusive
    tz: ZoneInfo  # the facility's: the counts' hours are its hours
    interval: str = "day"  # hour, day or week
    group_by: str | None = None  # modality or device


@dataclass(frozen=True, slots=True)
class VolumeRow:
    """Exams ordered, performed, reported, cancelled and not shown in one bucket and group."""

    bucket: datetime  # the bucket's local start, with its offset
    group: str | None
    ordered: int
    performed: int
    reported: int
    cancelled: int
    no_shows: int


async def read_volumes(
    conn: AsyncConnection, query: VolumeQuery, *, after: tuple[datetime, str] | None, limit: int
) -> Page[VolumeRow]:
    """Volumes per bucket and group, buckets oldest first; one statement.

    `after` is the (bucket start, group) of the previous page's last row (keyset paging).
    """
    origin = figures.bucket_origin(query.start, query.tz, query.interval)
    first, last = _whole_hours(query)
    params: dict[str, Any] = {"origin": figures.wall_seconds(origin), "limit": limit + 1}
    hours = first < last
    if hours:
        params |= {"first": first, "last": last}
        windows = [(query.start, first), (last, query.end)]
    else:
        windows = [(query.start, query.end)]
    edges = []
    for start, end in windows:
        if start < end:
            spans = figures.offset_spans(query.tz, start, end)
            number = len(edges)
            params |= {f"edge{number}_start": start, f"edge{number}_end": end}
            for at_change, (until, offset) in enumerate(spans):
                params[f"edge{number}_offset{at_change}"] = offset
                if until is not None:
                    params[f"edge{number}_until{at_change}"] = until
            edges.append(len(spans))
    if after is not None:
        wall, name = after
        local = wall.astimezone(query.tz).replace(tzinfo=None)
        params |= {"after_bucket": figures.bucket_index(origin, local, query.interval)}
        params["after_group"] = name
    shape = _Shape(
        conn.dialect.name, query.interval, query.group_by, hours, tuple(edges), after is not None
    )
    items = []
    for row in (await conn.execute(_statement(shape), params)).mappings():
        start = figures.bucket_start(origin, int(row["bucket"]), query.interval, query.tz)
        item = VolumeRow(
            bucket=start,
            group=None if query.group_by is None else row["grp"],
            **{name: int(row[name]) for name in VOLUME_MEASURES},
        )
        items.append(((start, row["grp"]), item))
    return page_of(items, limit)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a volumes statement depends on beyond its parameters: the dialect, the interval
    and grouping, whether whole hours are summed, the offset spans of each edge read from the
    orders, and whether a page follows another. Each shape's statement is built once: building
    it anew cost the event loop more than the database spent running it."""

    dialect: str
    interval: str
    group_by: str | None
    hours: bool
    edges: tuple[int, ...]  # per edge, how many offset spans
    paged: bool


@functools.lru_cache(maxsize=128)
def _statement(shape: _Shape) -> Select[Any]:
    parts = [_hours(shape)] if shape.hours else []
    parts += [_events(shape, number, spans) for number, spans in enumerate(shape.edges)]
    both = union_all(*parts).subquery("counted") if len(parts) > 1 else parts[0].subquery("counted")
    sums = [func.sum(both.c[name]).label(name) for name in VOLUME_MEASURES]
    grouped = (
        select(both.c.bucket, both.c.grp, *sums)
        .group_by(both.c.bucket, both.c.grp)
        .having(sum(func.sum(both.c[name]) for name in VOLUME_MEASURES) > 0)
        .subquery("grouped")
    )
    statement = select(grouped)
    if shape.paged:
        last = (
            bindparam("after_bucket", type_=BigInteger),
            bindparam("after_group", type_=String),
        )
        statement = statement.where(after_key((grouped.c.bucket, grouped.c.grp), last))
    return statement.order_by(grouped.c.bucket, grouped.c.grp).limit(
        bindparam("limit", type_=Integer)
    )


def _whole_hours(query: VolumeQuery) -> tuple[datetime, datetime]:
    """The first and the end of the facility hours that lie wholly inside the window."""
    try:
        first = facility_hour(query.start, query.tz)
        if first < query.start:
            first = facility_hour(first + timedelta(hours=1), query.tz)
        return first, facility_hour(query.end, query.tz)
    except OverflowError:  # a window at the calendar's ends: counted from the orders
        return query.end, query.start


def _hours(shape: _Shape) -> Select[Any]:
    """The stored hours in [first, last), summed per bucket and group."""
    v = volume_hours.c
    width = figures.INTERVAL_SECONDS[shape.interval]
    index = (v.wall_hour * 3600 - bindparam("origin", type_=BigInteger)) // width
    group = literal("", String) if shape.group_by is None else v[shape.group_by]
    first, last = bindparam("first", type_=UtcDateTime()), bindparam("last", type_=UtcDateTime())
    return (
        select(
            index.label("bucket"),
            group.label("grp"),
            *(func.sum(v[name]).label(name) for name in VOLUME_MEASURES),
        )
        .where(v.hour_at >= first, v.hour_at < last)
        .group_by(index, group)
    )


def _events(shape: _Shape, number: int, n_spans: int) -> Select[Any]:
    """The orders' events in edge `number`'s [start, end), one row each, a 1 under its
    measure."""
    prefix = f"edge{number}_"
    spans = [
        (
            bindparam(f"{prefix}until{i}", type_=UtcDateTime()) if i < n_spans - 1 else None,
            bindparam(f"{prefix}offset{i}", type_=BigInteger),
        )
        for i in range(n_spans)
    ]
    start = bindparam(f"{prefix}start", type_=UtcDateTime())
    end = bindparam(f"{prefix}end", type_=UtcDateTime())
    origin = bindparam("origin", type_=BigInteger)
    group: ColumnElement[Any] = literal("", String)
    if shape.group_by == "modality":
        group = orders.c.modality
    elif shape.group_by == "device":
        group = order_device()
    branches = []
    for measure, moment, condition in _volume_times():
        branches.append(
            select(
                bucket(shape.dialect, moment, spans, origin, shape.interval).label("bucket"),
                group.label("grp"),
                *(literal(int(name == measure), Integer).label(name) for name in VOLUME_MEASURES),
            ).where(moment >= start, moment < end, condition)
        )
    events = union_all(*branches).subquery(f"events{number}")
    return select(events.c.bucket, events.c.grp, *(events.c[n] for n in VOLUME_MEASURES))


def _volume_times() -> list[tuple[str, ColumnElement[Any], ColumnElement[bool]]]:
    """(measure, time column, condition) per branch: bare columns, so each can use an index."""
    c = orders.c
    return [
        ("ordered", c.ordered_at, true()),
        ("performed", c.exam_completed_at, true()),
        # No MPPS (no exam start known): the first image says the exam was performed.
        (
            "performed",
            c.images_available_at,
            c.exam_completed_at.is_(None) & c.exam_started_at.is_(None),
        ),
        ("reported", c.final_report_at, true()),
        # Cancelled or discontinued, whichever came first, counted once.
        (
            "cancelled",
            c.cancelled_at,
            c.discontinued_at.is_(None) | (c.cancelled_at <= c.discontinued_at),
        ),
        (
            "cancelled",
            c.discontinued_at,
            c.cancelled_at.is_(None) | (c.discontinued_at < c.cancelled_at),
        ),
        ("no_shows", c.no_show_at, true()),
    ]
