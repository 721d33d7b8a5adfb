"""Turnaround figures, read from the figure rows the fold keeps and their counts per value
bucket (store.fold.readmodels, store.fold.figure_counts).

A figure counts an order when both its ends exist, its END time lies in [start, end), and the
order was not cancelled; negative values are kept. Percentiles are exact
(store.figures.percentile): two statements find them without ranking every value of the window
(store.reading.turnaround_sql). The first sums the day, week and month counts of the window's
whole days and counts the figure rows of the rest (store.reading.window_days), which says how
many values each group has, how many are within their goal, and which bucket holds each rank
the percentiles need; the second reads only those buckets' values in order. The floats are
interpolated here from whole milliseconds, as the definition does, so SQLite and PostgreSQL
give the same ones.

Grouped by device, the window is read from the figure rows alone (the counts have no device);
grouped by day, from day counts (a week's or a month's do not split by day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from store import figures
from store.paging import Page, page_of
from store.reading.turnaround_goals import split_figures
from store.reading.turnaround_sql import Lookup, bucket_values, rank_buckets
from store.reading.window_days import SPANS, WindowParts, midnight, rows_only, window_parts

GROUPS = ("modality", "priority", "patient_class", "device", "day")


@dataclass(frozen=True, slots=True)
class TurnaroundQuery:
    """Which figures, over which window of END times, grouped how, against which goals."""

    figures: tuple[str, ...]
    start: datetime  # inclusive
    end: datetime  # exclusive
    tz: ZoneInfo  # the facility's: the figure rows' days are its days
    group_by: str | None = None  # one of GROUPS
    goals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure for one group: count, percentiles in minutes, and the share within goal."""

    figure: str
    group: str | None
    count: int
    p50: float
    p90: float
    p95: float
    with_goal: int  # orders that have a goal
    within_goal: int  # of those, the ones whose value <= their goal
    share_within_goal: float | None  # within_goal / with_goal; None when no order has a goal


async def read_turnaround(
    conn: AsyncConnection, query: TurnaroundQuery, *, after: tuple[str, str] | None, limit: int
) -> Page[FigureRow]:
    """Turnaround figures by figure and group, in (figure, group) order; two statements.

    `after` is the (figure, group) of the previous page's last row (keyset paging).
    """
    wanted = [name for name in figures.FIGURES if name in query.figures]
    if not wanted:
        return Page(())
    if conn.dialect.name == "postgresql":
        # Each statement reads tens of thousands of rows, which PostgreSQL would split over
        # parallel workers; with several requests at once on few cores the workers cost more
        # than they save (bench/README.md, "Issue 13: turnaround buckets"). For this
        # transaction only.
        await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    ranks, params = rank_buckets(
        wanted, query.group_by, _parts(query), goals=query.goals, after=after, limit=limit
    )
    groups: dict[tuple[str, str], _Group] = {}
    for row in (await conn.execute(ranks, params)).mappings():
        key = (_NAMES[row["fig"]], row["grp"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(int(row["n"]), int(row["with_goal"]), int(row["within"]))
        group.buckets.append((int(row["bucket"]), int(row["below"]), int(row["size"])))
    await _read_values(conn, query, wanted, groups)
    items = []
    for (figure, grp), group in groups.items():
        shown = None if query.group_by is None else grp
        item = FigureRow(
            figure=figure,
            group=shown,
            count=group.n,
            p50=group.percentile(50),
            p90=group.percentile(90),
            p95=group.percentile(95),
            with_goal=group.with_goal,
            within_goal=group.within,
            share_within_goal=group.within / group.with_goal if group.with_goal else None,
        )
        items.append(((figure, grp), item))
    return page_of(items, limit)


_NAMES = list(figures.FIGURES)


@dataclass(slots=True)
class _Group:
    """One (figure, group) of the page: its counts, the buckets holding the wanted ranks
    as (bucket, rank of its first value, values in it), and the values read at those ranks."""

    n: int
    with_goal: int
    within: int
    buckets: list[tuple[int, int, int]] = field(default_factory=list)
    values: dict[int, int] = field(default_factory=dict)  # rank -> value in ms

    def ranks(self) -> list[int]:
        """The ranks the percentiles interpolate between (store.figures.percentile)."""
        wanted = set()
        for percent in figures.PERCENTILES:
            low, rest = divmod((self.n - 1) * percent, 100)
            wanted.update((low, low + 1) if rest else (low,))
        return sorted(wanted)

    def percentile(self, percent: int) -> float:
        """Linear between the two nearest ranks, from the values in whole milliseconds
        divided as the definition divides them (value_ms / 60000.0)."""
        low, rest = divmod((self.n - 1) * percent, 100)
        a = self.values[low] / 60000.0
        b = self.values[low + 1] / 60000.0 if rest else a
        return a + (b - a) * (rest / 100)


def _group_window(query: TurnaroundQuery, group: str) -> tuple[datetime, datetime]:
    """Where in the window a group's rows can be: a day group's day, when its midnights are
    plain ones (store.reading.window_days), else the whole window."""
    if query.group_by != "day":
        return query.start, query.end
    day = date.fromisoformat(group)
    try:
        begin, finish = midnight(day, query.tz), midnight(day + timedelta(days=1), query.tz)
    except (OverflowError, ValueError):
        return query.start, query.end
    if begin is None or finish is None:
        return query.start, query.end
    return max(begin, query.start), min(finish, query.end)


def _parts(query: TurnaroundQuery) -> WindowParts:
    if query.group_by == "device":
        return rows_only(query.start, query.end)
    spans = ("day",) if query.group_by == "day" else SPANS
    return window_parts(query.start, query.end, query.tz, spans=spans)


async def _read_values(
    conn: AsyncConnection,
    query: TurnaroundQuery,
    wanted: list[str],
    groups: dict[tuple[str, str], _Group],
) -> None:
    """Read the values at each group's wanted ranks, and add the values within a goal that
    splits a bucket to the group's `within`."""
    lookups: list[tuple[_Group, Lookup, int]] = []  # group, lookup, rank of its first value
    for (figure, grp), group in groups.items():
        # One lookup per run of consecutive ranks in one bucket: a percentile's two ranks
        # mostly, so that a bucket holding p90 and p95 does not send every value between.
        runs: list[tuple[int, int, list[int]]] = []  # bucket, rank of its first value, ranks
        for rank in group.ranks():
            bucket, below, _ = next(b for b in group.buckets if b[1] <= rank < b[1] + b[2])
            if runs and runs[-1][0] == bucket and runs[-1][2][-1] == rank - 1:
                runs[-1][2].append(rank)
            else:
                runs.append((bucket, below, [rank]))
        since, until = _group_window(query, grp)
        for bucket, below, ranks in runs:
            lookup = Lookup(figure, grp, bucket, ranks[0] - below, len(ranks), since, until)
            lookups.append((group, lookup, ranks[0]))
    split = set(split_figures(query.goals, wanted))
    splits = [
        (figure, sorted(grp for f, grp in groups if f == figure))
        for figure in wanted
        if figure in split and any(f == figure for f, _ in groups)
    ]
    if not lookups and not splits:
        return
    statement, params = bucket_values(
        conn.dialect.name,
        [lookup for _, lookup, _ in lookups],
        splits,
        group_by=query.group_by,
        window=(query.start, query.end),
        goals=query.goals,
    )
    read: dict[int, list[int]] = {}
    for row in (await conn.execute(statement, params)).mappings():
        number, value = int(row["i"]), int(row["v"])
        if number >= 0:
            read.setdefault(number, []).append(value)
        else:
            groups[(_NAMES[-1 - number], row["grp"])].within += value
    for number, (group, _, first) in enumerate(lookups):
        # The values of consecutive ranks of one bucket: their order is their ranks' order.
        for offset, value in enumerate(sorted(read.get(number, []))):
            group.values[first + offset] = value
