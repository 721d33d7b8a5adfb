"""Turnaround figures, read from the figure rows the fold keeps (store.fold.readmodels).

A figure counts an order when both its ends exist, its END time lies in [start, end), and the
order was not cancelled; negative values are kept. One statement on either database: the
values of each (figure, group) are ranked and interpolated by `store.reading.ranks`, so SQLite
and PostgreSQL give the same floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from store import figures
from store.paging import Page, after_key, page_of
from store.reading.ranks import percentiles_by_group
from store.reading.sql import at
from store.schema import order_figures

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
    """Turnaround figures by figure and group, in (figure, group) order; one statement.

    `after` is the (figure, group) of the previous page's last row (keyset paging).
    """
    wanted = [name for name in figures.FIGURES if name in query.figures]
    if not wanted:
        return Page(())
    grouped = _grouped(query, wanted)
    statement = select(grouped)
    if after is not None:
        figure, group = after
        statement = statement.where(
            after_key((grouped.c.fig, grouped.c.grp), (list(figures.FIGURES).index(figure), group))
        )
    statement = statement.order_by(grouped.c.fig, grouped.c.grp).limit(limit + 1)
    names = list(figures.FIGURES)
    items = []
    for row in (await conn.execute(statement)).mappings():
        group = None if query.group_by is None else row["grp"]
        with_goal, within_goal = int(row["with_goal"]), int(row["within_goal"])
        item = FigureRow(
            figure=names[row["fig"]],
            group=group,
            count=int(row["n"]),
            p50=float(row["p50"]),
            p90=float(row["p90"]),
            p95=float(row["p95"]),
            with_goal=with_goal,
            within_goal=within_goal,
            share_within_goal=within_goal / with_goal if with_goal else None,
        )
        items.append(((item.figure, group or ""), item))
    return page_of(items, limit)


def _grouped(query: TurnaroundQuery, wanted: list[str]) -> Any:
    """Per (figure, group): n, the percentiles, and the goal counts."""
    f = order_figures.c
    fig = case({name: number for number, name in enumerate(figures.FIGURES)}, value=f.figure)
    values = (
        select(
            fig.label("fig"),
            _group(query.group_by).label("grp"),
            (cast(f.value_ms, Float) / 60000.0).label("v"),
            _goal(query.goals).label("goal"),
        )
        .where(f.figure.in_(wanted), f.end_at >= at(query.start), f.end_at < at(query.end))
        .cte("figure_values")
    )

    def goal_counts(ranked: Any) -> list[ColumnElement[Any]]:
        has_goal = ranked.c.goal.is_not(None)
        within = has_goal & (ranked.c.v <= ranked.c.goal)
        return [
            func.sum(case((has_goal, 1), else_=0)).label("with_goal"),
            func.sum(case((within, 1), else_=0)).label("within_goal"),
        ]

    return percentiles_by_group(values, ("fig", "grp"), "v", figures.PERCENTILES, goal_counts)


def _group(group_by: str | None) -> ColumnElement[Any]:
    """The group's label: "" for no grouping, the ISO date for days, else the column."""
    if group_by is None:
        return literal("", String)
    if group_by == "day":
        return cast(order_figures.c.day, String)
    return order_figures.c[group_by]


def _goal(goals: Mapping[str, float]) -> ColumnElement[Any]:
    """Each row's goal: per figure, a CASE whose first match wins, in `goal_rules` order."""
    f = order_figures.c
    per_figure: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
    for figure in figures.FIGURES:
        whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
        fallback: float | None = None
        for rule in figures.goal_rules(goals, figure):
            conditions = [
                f[column] == wanted
                for column, wanted in (
                    ("modality", rule.modality),
                    ("priority", rule.priority),
                    ("patient_class", rule.patient_class),
                )
                if wanted is not None
            ]
            if not conditions:
                fallback = rule.minutes  # matches every order: later rules never apply
                break
            whens.append((and_(*conditions), literal(rule.minutes, Float)))
        otherwise = cast(null(), Float) if fallback is None else literal(fallback, Float)
        if whens or fallback is not None:
            goal = case(*whens, else_=otherwise) if whens else otherwise
            per_figure.append((f.figure == figure, goal))
    return case(*per_figure, else_=cast(null(), Float)) if per_figure else cast(null(), Float)
