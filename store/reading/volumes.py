"""Volumes per facility-local hour, day or week, read from the hourly counts the fold keeps.

Per bucket: ordered (ordered_at), performed (exam_completed_at, else images_available_at when
no exam start is known), reported (final_report_at), cancelled (the earlier of cancelled_at
and discontinued_at), no-shows (no_show_at). The whole facility hours inside [start, end) are
summed from `volume_hours`; a part hour at either edge of a window that does not begin or end
on an hour is counted from the orders themselves, so any window gives the exact counts.
"""

from __future__ import annotations

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
from store.reading.sql import at, bucket
from store.schema import orders, volume_hours

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
    parts: list[Select[Any]] = []
    if first < last:
        parts.append(_hours(query, origin, first, last))
        edges = [(query.start, first), (last, query.end)]
    else:
        edges = [(query.start, query.end)]
    for start, end in edges:
        if start < end:
            parts.append(_events(conn.dialect.name, query, origin, start, end))
    both = union_all(*parts).subquery("counted") if len(parts) > 1 else parts[0].subquery("counted")
    sums = [func.sum(both.c[name]).label(name) for name in VOLUME_MEASURES]
    grouped = (
        select(both.c.bucket, both.c.grp, *sums)
        .group_by(both.c.bucket, both.c.grp)
        .having(sum(func.sum(both.c[name]) for name in VOLUME_MEASURES) > 0)
        .subquery("grouped")
    )
    statement = select(grouped)
    if after is not None:
        wall, name = after
        index = figures.bucket_index(
            origin, wall.astimezone(query.tz).replace(tzinfo=None), query.interval
        )
        statement = statement.where(after_key((grouped.c.bucket, grouped.c.grp), (index, name)))
    statement = statement.order_by(grouped.c.bucket, grouped.c.grp).limit(limit + 1)
    items = []
    for row in (await conn.execute(statement)).mappings():
        start = figures.bucket_start(origin, int(row["bucket"]), query.interval, query.tz)
        item = VolumeRow(
            bucket=start,
            group=None if query.group_by is None else row["grp"],
            **{name: int(row[name]) for name in VOLUME_MEASURES},
        )
        items.append(((start, row["grp"]), item))
    return page_of(items, limit)


def _whole_hours(query: VolumeQuery) -> tuple[datetime, datetime]:
    """The first and the end of the facility hours that lie wholly inside the window."""
    try:
        first = facility_hour(query.start, query.tz)
        if first < query.start:
            first = facility_hour(first + timedelta(hours=1), query.tz)
        return first, facility_hour(query.end, query.tz)
    except OverflowError:  # a window at the calendar's ends: counted from the orders
        return query.end, query.start


def _hours(query: VolumeQuery, origin: datetime, first: datetime, last: datetime) -> Select[Any]:
    """The stored hours in [first, last), summed per bucket and group."""
    v = volume_hours.c
    width = figures.INTERVAL_SECONDS[query.interval]
    index = (v.wall_hour * 3600 - literal(figures.wall_seconds(origin), BigInteger)) // width
    group = literal("", String) if query.group_by is None else v[query.group_by]
    return (
        select(
            index.label("bucket"),
            group.label("grp"),
            *(func.sum(v[name]).label(name) for name in VOLUME_MEASURES),
        )
        .where(v.hour_at >= at(first), v.hour_at < at(last))
        .group_by(index, group)
    )


def _events(
    dialect: str, query: VolumeQuery, origin: datetime, start: datetime, end: datetime
) -> Select[Any]:
    """The orders' events in [start, end), one row each, a 1 under its measure."""
    spans = figures.offset_spans(query.tz, start, end)
    group: ColumnElement[Any] = literal("", String)
    if query.group_by == "modality":
        group = orders.c.modality
    elif query.group_by == "device":
        group = order_device()
    branches = []
    for measure, moment, condition in _volume_times():
        branches.append(
            select(
                bucket(dialect, moment, spans, origin, query.interval).label("bucket"),
                group.label("grp"),
                *(literal(int(name == measure), Integer).label(name) for name in VOLUME_MEASURES),
            ).where(moment >= at(start), moment < at(end), condition)
        )
    events = union_all(*branches).subquery("events")
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
