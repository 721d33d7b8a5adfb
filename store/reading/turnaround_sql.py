"""The two statements of a turnaround read.

1. `rank_buckets` (the same SQL on SQLite and PostgreSQL): the window's values counted per
   figure, group and value bucket, from the day, week and month counts its whole days add up
   to and from the figure rows of the rest (store.reading.window_days); per group, its count,
   its goal counts over whole buckets, and each bucket holding a wanted rank with the rank of
   the bucket's first value.
2. `bucket_values`: the values of those ranks, each read in order from the figure rows of one
   bucket of the window (a short range of the index on (figure, modality, bucket, END time),
   or (figure, bucket, END time) for the other groupings), and the rows within a goal of the
   buckets a goal splits. PostgreSQL reads each bucket only up to its last wanted value;
   SQLite, which takes no LIMIT from an outer row, ranks the buckets' rows in one pass.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy.sql import ColumnCollection

from store import figures
from store.paging import after_key
from store.reading.turnaround_goals import split_counts, whole_bound
from store.reading.window_days import WindowParts
from store.schema import UtcDateTime, figure_counts, order_figures

_NAMES = list(figures.FIGURES)


@dataclass(frozen=True, slots=True)
class Lookup:
    """Values to read from one bucket of one group: `count` of them, from the `skip`-th, of
    the rows whose END time is in [since, until) (the window, or the part of it a day group
    can have rows in)."""

    figure: str
    group: str
    bucket: int
    skip: int
    count: int
    since: datetime
    until: datetime


def group_column(columns: ColumnCollection[str, Any], group_by: str | None) -> ColumnElement[Any]:
    """The group's label in a row of figure_counts or order_figures: "" for no grouping, the
    ISO date for days, else the column."""
    if group_by is None:
        return literal("", String)
    if group_by == "day":
        return cast(columns["start"] if "start" in columns else columns["day"], String)
    return columns[group_by]


def rank_buckets(
    wanted: Sequence[str],
    group_by: str | None,
    parts: WindowParts,
    *,
    goals: Mapping[str, float],
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[Select[Any], dict[str, Any]]:
    """Per group of the page (up to `limit` + 1, in (figure, group) order after `after`): `n`,
    `with_goal`, `within` (in whole buckets), and one row per `bucket` that holds a wanted
    rank, with `below` (the rank of its first value) and `size`; the statement and its
    parameters (the statement is built once per shape of window, grouping and goals)."""
    by_kind: dict[tuple[str, int], list[date]] = {}
    for span, first, sign in parts.counts:
        by_kind.setdefault((span, sign), []).append(first)
    kinds = tuple(sorted(by_kind))
    signs = tuple(sign for _, _, sign in parts.rows)
    statement = _rank_statement(
        tuple(wanted),
        group_by,
        tuple(sorted(goals.items())),
        (kinds, signs),
        after is not None,
    )
    params: dict[str, Any] = {"limit": limit + 1}
    for number, kind in enumerate(kinds):
        params[f"starts_{number}"] = by_kind[kind]
    for number, (low, high, _) in enumerate(parts.rows):
        params[f"rows_from_{number}"], params[f"rows_to_{number}"] = low, high
    if after is not None:
        params["after_fig"], params["after_grp"] = _NAMES.index(after[0]), after[1]
    return statement, params


@functools.lru_cache(maxsize=256)
def _rank_statement(
    wanted: tuple[str, ...],
    group_by: str | None,
    goals: tuple[tuple[str, float], ...],
    shape: tuple[tuple[tuple[str, int], ...], tuple[int, ...]],
    paged: bool,
) -> Select[Any]:
    """rank_buckets' statement for `shape` (the (span, sign) of the counts read, the signs of
    the row stretches), its dates, times and page left as parameters."""
    cells = _cells(wanted, group_by, shape).subquery("cells")
    bound = whole_bound(cells.c, dict(goals))
    keys = (cells.c.figure, cells.c.grp, cells.c.bucket)
    hist = (
        select(
            cells.c.figure,
            cells.c.grp,
            cells.c.bucket,
            func.sum(cells.c.n).label("size"),
            func.sum(case((bound.is_not(None), cells.c.n), else_=0)).label("goaled"),
            func.sum(case((cells.c.bucket <= bound, cells.c.n), else_=0)).label("inside"),
        )
        .group_by(*keys)
        .subquery("hist")
    )
    group = (hist.c.figure, hist.c.grp)
    fig = case({name: number for number, name in enumerate(_NAMES)}, value=hist.c.figure)
    ranked = select(
        fig.label("fig"),
        hist.c.grp,
        hist.c.bucket,
        cast(hist.c.size, BigInteger).label("size"),
        cast(
            func.sum(hist.c.size).over(partition_by=group, order_by=hist.c.bucket), BigInteger
        ).label("upto"),
        cast(func.sum(hist.c.size).over(partition_by=group), BigInteger).label("n"),
        cast(func.sum(hist.c.goaled).over(partition_by=group), BigInteger).label("with_goal"),
        cast(func.sum(hist.c.inside).over(partition_by=group), BigInteger).label("within"),
    ).cte("ranked")
    page = select(ranked.c.fig, ranked.c.grp).where(ranked.c.n > 0).distinct()
    if paged:
        last = (bindparam("after_fig", type_=Integer), bindparam("after_grp", type_=String))
        page = page.where(after_key((ranked.c.fig, ranked.c.grp), last))
    shown = (
        page.order_by(ranked.c.fig, ranked.c.grp)
        .limit(bindparam("limit", type_=Integer))
        .subquery("shown")
    )
    below = ranked.c.upto - ranked.c.size
    return (
        select(
            ranked.c.fig,
            ranked.c.grp,
            ranked.c.n,
            ranked.c.with_goal,
            ranked.c.within,
            ranked.c.bucket,
            below.label("below"),
            ranked.c.size,
        )
        .join_from(ranked, shown, and_(shown.c.fig == ranked.c.fig, shown.c.grp == ranked.c.grp))
        .where(or_(*(_holds(below, ranked.c.upto, ranked.c.n, p) for p in figures.PERCENTILES)))
        .order_by(ranked.c.fig, ranked.c.grp, ranked.c.bucket)
    )


def _holds(
    below: ColumnElement[int], upto: ColumnElement[int], n: ColumnElement[int], percent: int
) -> ColumnElement[bool]:
    """The bucket holds a rank the percentile interpolates between: floor(h), and floor(h) + 1
    when h = (n - 1) * p / 100 has a fraction (store.figures.percentile)."""
    low = (n - 1) * percent // 100
    fraction = (n - 1) * percent % 100
    return or_(
        and_(below <= low, low < upto),
        and_(fraction > 0, below <= low + 1, low + 1 < upto),
    )


def _cells(
    wanted: tuple[str, ...],
    group_by: str | None,
    shape: tuple[tuple[tuple[str, int], ...], tuple[int, ...]],
) -> Any:
    """(figure, grp, modality, priority, patient_class, bucket, n) of every count row and
    figure row the window is read from; n is a count or one row, taken away when negative."""
    kinds, signs = shape
    sources: list[Select[Any]] = []
    c = figure_counts.c
    for number, (span, sign) in enumerate(kinds):
        starts = bindparam(f"starts_{number}", type_=Date, expanding=True)
        n = c.count if sign > 0 else -c.count
        sources.append(
            select(*_keyed(c, group_by), n.label("n")).where(
                c.span == span, c.start.in_(starts), *_only(c.figure, wanted)
            )
        )
    f = order_figures.c
    for number, sign in enumerate(signs):
        sources.append(
            # The figure is named even when all are wanted: it leads the index on END time.
            select(*_keyed(f, group_by), literal(sign, Integer).label("n")).where(
                f.figure.in_(list(wanted)),
                f.end_at >= bindparam(f"rows_from_{number}", type_=UtcDateTime()),
                f.end_at < bindparam(f"rows_to_{number}", type_=UtcDateTime()),
            )
        )
    if not sources:  # an empty window: no group
        sources.append(select(*_keyed(f, group_by), literal(0, Integer).label("n")).where(false()))
    return union_all(*sources) if len(sources) > 1 else sources[0]


def _keyed(columns: ColumnCollection[str, Any], group_by: str | None) -> list[Any]:
    return [
        columns.figure,
        group_column(columns, group_by).label("grp"),
        columns.modality,
        columns.priority,
        columns.patient_class,
        columns.bucket,
    ]


def _only(figure: ColumnElement[str], wanted: Sequence[str]) -> list[ColumnElement[bool]]:
    """The wanted figures' counts; no condition when all are (it would cost a comparison a
    row, and the counts' key does not lead with the figure)."""
    return [] if len(wanted) == len(_NAMES) else [figure.in_(list(wanted))]


def bucket_values(
    dialect: str,
    lookups: Sequence[Lookup],
    splits: Sequence[tuple[str, Sequence[str]]],
    *,
    group_by: str | None,
    window: tuple[datetime, datetime],
    goals: Mapping[str, float],
) -> tuple[Select[Any], dict[str, Any]]:
    """(`i`, `grp`, `v`): for lookup i, its values (`grp` "", in no particular order); for
    i = -1 - figure number, `v` rows per group within the goal in the buckets its goals split,
    for the figures and groups in `splits`. The statement and its parameters."""
    branches = []
    params: dict[str, Any] = {}
    if lookups and dialect == "postgresql":
        branches.append(_lateral_values(group_by))
        params.update(
            lookup_since=[x.since for x in lookups],
            lookup_until=[x.until for x in lookups],
            lookup_figure=[x.figure for x in lookups],
            lookup_grp=[x.group for x in lookups],
            lookup_bucket=[x.bucket for x in lookups],
            lookup_skip=[x.skip for x in lookups],
            lookup_take=[x.count for x in lookups],
        )
    elif lookups:
        branches.append(_ranked_values(lookups, group_by))
    grp = group_column(order_figures.c, group_by)
    branches += [split_counts(figure, groups, grp, window, goals) for figure, groups in splits]
    return (union_all(*branches) if len(branches) > 1 else branches[0]), params


@functools.lru_cache(maxsize=16)
def _lateral_values(group_by: str | None) -> Select[Any]:
    """PostgreSQL: one statement text whatever the lookups (they come as arrays, so it is built,
    prepared and planned once); each reads its bucket's window in order up to its last value."""
    columns = (
        ("figure", String()),
        ("grp", String()),
        ("bucket", BigInteger()),
        ("skip", BigInteger()),
        ("take", BigInteger()),
        ("since", DateTime(timezone=True)),
        ("until", DateTime(timezone=True)),
    )
    arrays = [bindparam(f"lookup_{name}", type_=ARRAY(kind)) for name, kind in columns]
    wanted = (
        func.unnest(*arrays)
        .table_valued(*(name for name, _ in columns), with_ordinality="i")
        .render_derived()
    )
    f = order_figures.c
    values = (
        select(f.value_ms)
        .where(f.figure == wanted.c.figure, f.bucket == wanted.c.bucket)
        .where(f.end_at >= wanted.c.since, f.end_at < wanted.c.until)
        .order_by(f.value_ms)
        .offset(wanted.c.skip)
        .limit(wanted.c.take)
    )
    if group_by is not None:
        values = values.where(_group_matches(group_by, wanted.c.grp))
    found = values.lateral("found")
    return select(
        cast(wanted.c.i - 1, Integer).label("i"),
        literal("", String).label("grp"),
        found.c.value_ms.label("v"),
    ).join_from(wanted, found, true())


def _ranked_values(lookups: Sequence[Lookup], group_by: str | None) -> Select[Any]:
    """SQLite (no LIMIT taken from an outer row): each bucket's window ranked in one pass."""
    wanted = (
        values(
            column("i", Integer),
            column("figure", String),
            column("grp", String),
            column("bucket", BigInteger),
            column("skip", BigInteger),
            column("take", BigInteger),
            column("since", UtcDateTime()),
            column("until", UtcDateTime()),
            name="wanted",
        )
        .data(
            [
                (i, x.figure, x.group, x.bucket, x.skip, x.count, x.since, x.until)
                for i, x in enumerate(lookups)
            ]
        )
        .cte("wanted")
    )
    f = order_figures.c
    rank = func.row_number().over(partition_by=wanted.c.i, order_by=f.value_ms) - 1
    joined = [f.figure == wanted.c.figure, f.bucket == wanted.c.bucket]
    if group_by is not None:
        joined.append(_group_matches(group_by, wanted.c.grp))
    ranked = (
        select(wanted.c.i, wanted.c.skip, wanted.c.take, f.value_ms, rank.label("rank"))
        .join_from(wanted, order_figures, and_(*joined))
        .where(f.end_at >= wanted.c.since, f.end_at < wanted.c.until)
        .subquery("ranked")
    )
    return select(ranked.c.i, literal("", String).label("grp"), ranked.c.value_ms.label("v")).where(
        ranked.c.rank >= ranked.c.skip, ranked.c.rank < ranked.c.skip + ranked.c.take
    )


def _group_matches(group_by: str, group: ColumnElement[str]) -> ColumnElement[bool]:
    f = order_figures.c
    if group_by == "day":
        return cast(f.day, String) == group
    return f[group_by] == group
