"""Goals in the turnaround statements: each row's goal (store.figures.goal_for) as SQL, and
the rows within a goal in the buckets it splits (store.figure_buckets.goal_bound)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy.sql import ColumnCollection

from store import figures
from store.figure_buckets import GoalBound, goal_bound
from store.reading.sql import at
from store.schema import order_figures

_NAMES = list(figures.FIGURES)


def split_figures(goals: Mapping[str, float], wanted: Sequence[str]) -> list[str]:
    """The wanted figures that have a goal splitting a bucket."""
    return [name for name in wanted if any(b.split is not None for b in _bounds(goals, name))]


def whole_bound(
    columns: ColumnCollection[str, Any], goals: Mapping[str, float]
) -> ColumnElement[Any]:
    """Per row, the last bucket wholly within its goal (NULL when it has none)."""
    return goal_case(columns, goals, lambda b: literal(b.whole, BigInteger))


def split_counts(
    figure: str,
    groups: Sequence[str],
    grp: ColumnElement[Any],
    window: tuple[datetime, datetime],
    goals: Mapping[str, float],
) -> Select[Any]:
    """(`i` = -1 - figure number, `grp`, `v`): per group (`grp`, its label in a figure row),
    the rows of one figure within their goal in the buckets its goals split."""
    f = order_figures.c
    start, end = window
    split = goal_case(f, goals, _split_bucket, only=figure)
    most = goal_case(f, goals, lambda b: literal(b.most_ms, BigInteger), only=figure)
    buckets = sorted({b.split for b in _bounds(goals, figure) if b.split is not None})
    return (
        select(
            literal(-1 - _NAMES.index(figure), Integer).label("i"),
            grp.label("grp"),
            cast(func.count(), BigInteger).label("v"),
        )
        .where(f.figure == figure, f.bucket.in_(buckets), f.end_at >= at(start))
        .where(f.end_at < at(end), f.bucket == split, f.value_ms <= most, grp.in_(list(groups)))
        .group_by(grp)
    )


def _split_bucket(bound: GoalBound) -> ColumnElement[Any] | None:
    return None if bound.split is None else literal(bound.split, BigInteger)


def _bounds(goals: Mapping[str, float], figure: str) -> list[GoalBound]:
    return [goal_bound(rule.minutes) for rule in figures.goal_rules(goals, figure)]


def goal_case(
    columns: ColumnCollection[str, Any],
    goals: Mapping[str, float],
    value: Callable[[GoalBound], ColumnElement[Any] | None],
    only: str | None = None,
) -> ColumnElement[Any]:
    """Per row, `value` of the goal that applies (the first matching rule in `goal_rules`
    order, store.figures.goal_for), NULL when none does or `value` gives None."""
    per_figure: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
    for figure in _NAMES if only is None else [only]:
        whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
        fallback: ColumnElement[Any] | None = None
        matched_all = False
        for rule in figures.goal_rules(goals, figure):
            picked = value(goal_bound(rule.minutes))
            result = picked if picked is not None else null()
            conditions = [
                columns[name] == wanted
                for name, wanted in (
                    ("modality", rule.modality),
                    ("priority", rule.priority),
                    ("patient_class", rule.patient_class),
                )
                if wanted is not None
            ]
            if not conditions:
                fallback, matched_all = result, True  # matches every row: later rules never apply
                break
            whens.append((and_(*conditions), result))
        if not whens and not matched_all:
            continue
        otherwise = fallback if fallback is not None else null()
        goal = case(*whens, else_=otherwise) if whens else otherwise
        per_figure.append((columns.figure == figure, goal))
    nothing = cast(null(), BigInteger)
    if only is not None:
        return per_figure[0][1] if per_figure else nothing
    return case(*per_figure, else_=nothing) if per_figure else nothing
