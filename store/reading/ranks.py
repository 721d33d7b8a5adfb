"""Percentiles per group in SQL, the same floats on SQLite and PostgreSQL.

The values of each group are ranked by window functions and h = (n - 1) * p / 100 is
interpolated between the two nearest ranks (`store.figures.percentile`, exactly: the fraction
of h is a whole percent), for the turnaround figures, dose and the senders' lateness alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, select


def percentiles_by_group(
    values: Any,
    groups: Sequence[str],
    value: str,
    percents: Sequence[int],
    also: Callable[[Any], Sequence[ColumnElement[Any]]] = lambda _: (),
) -> Any:
    """Per group of `values` (a CTE or subquery): `n` and `p<percent>` of column `value`,
    NULL values left out, and the labelled aggregates `also` makes of the ranked rows (which
    carry every column of `values`)."""
    part = [values.c[name] for name in groups]
    v = values.c[value]
    ranked = (
        select(
            *values.c,
            (func.row_number().over(partition_by=part, order_by=v) - 1).label("rn"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(v.is_not(None))
        .subquery()
    )
    bounds: list[ColumnElement[Any]] = []
    for p in percents:
        low = (ranked.c.n - 1) * p // 100
        bounds.append(func.max(case((ranked.c.rn == low, ranked.c[value]))).label(f"lo{p}"))
        bounds.append(func.max(case((ranked.c.rn == low + 1, ranked.c[value]))).label(f"hi{p}"))
    keys = [ranked.c[name] for name in groups]
    extra = list(also(ranked))
    counted = (
        select(*keys, func.max(ranked.c.n).label("n"), *bounds, *extra).group_by(*keys).subquery()
    )
    out: list[ColumnElement[Any]] = []
    for p in percents:
        low, high = counted.c[f"lo{p}"], counted.c[f"hi{p}"]
        fraction = cast((counted.c.n - 1) * p % 100, Float) / 100.0
        out.append((low + (func.coalesce(high, low) - low) * fraction).label(f"p{p}"))
    carried = [counted.c[column.name] for column in extra]
    return select(*(counted.c[name] for name in groups), counted.c.n, *carried, *out).subquery()
