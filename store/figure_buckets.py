"""Value buckets of the flow figures: the counts the fold keeps are counts per bucket.

A value of `m` minutes (whole milliseconds, any sign) falls in the bucket whose id is the
smallest edge e >= m, so bucket e holds the values in (previous edge, e]. The edges are every
whole minute up to 60, every 5 minutes up to 4 hours, every 15 up to 12 hours, every hour up to
48 hours and every 4 hours beyond, and the same below zero. A goal on an edge (every whole
minute of the first hour, and the round goals after it: 90 min, 2 h, 6 h, 24 h, 72 h, a week)
splits no bucket, so "value <= goal" is a sum of whole buckets; another goal reads the rows of
the one bucket it splits.

Why these widths: on the benchmark's department (1,000,000 orders in 90 days) they balance the
two costs of an exact percentile read, the count rows summed over a window (more with narrower
buckets) and the figure rows of the buckets that hold the wanted ranks (more with wider ones);
bench/README.md ("Issue 13: turnaround buckets") has the figures.

`value_bucket` is the rule; `bucket_expression` is the same rule in SQL, for the backfill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, literal

# (up to this many minutes, bucket width in minutes), the last without end.
SEGMENTS: tuple[tuple[int | None, int], ...] = (
    (60, 1),
    (240, 5),
    (720, 15),
    (2880, 60),
    (None, 240),
)
_MINUTE_MS = 60_000


def value_bucket(value_ms: int) -> int:
    """The id (upper edge, in minutes) of the bucket holding a value in milliseconds."""
    minutes = -(-value_ms // _MINUTE_MS)  # rounded up: (m - 1, m] is bucket m's first minute
    if minutes >= 0:
        return _edge_at_or_above(minutes)
    return -_edge_at_or_below(-minutes)


def _edge_at_or_above(minutes: int) -> int:
    low = 0
    for high, width in SEGMENTS:
        if high is None or minutes <= high:
            return low + width * -(-(minutes - low) // width)
        low = high
    raise AssertionError("the last segment has no end")


def _edge_at_or_below(minutes: int) -> int:
    low = 0
    for high, width in SEGMENTS:
        if high is None or minutes < high:
            return low + width * ((minutes - low) // width)
        low = high
    raise AssertionError("the last segment has no end")


def bucket_expression(value_ms: ColumnElement[Any]) -> ColumnElement[int]:
    """`value_bucket` of a column of milliseconds, in SQL (the same integers on both stores:
    every division has non-negative operands, where truncation is the floor)."""
    minute = literal(_MINUTE_MS, BigInteger)
    up = case(
        (value_ms > 0, (value_ms + (minute - 1)) // minute),
        else_=-((-value_ms) // minute),
    )
    return case(
        (up >= 0, _segments_sql(up, above=True)),
        else_=-_segments_sql(-up, above=False),
    )


def _segments_sql(minutes: ColumnElement[int], *, above: bool) -> ColumnElement[int]:
    whens = []
    low = 0
    otherwise: ColumnElement[int] | None = None
    for high, width in SEGMENTS:
        w = literal(width, BigInteger)
        offset = minutes - literal(low, BigInteger)
        steps = (offset + (w - 1)) // w if above else offset // w
        edge = literal(low, BigInteger) + w * steps
        if high is None:
            otherwise = edge
            break
        whens.append((minutes <= high if above else minutes < high, edge))
        low = high
    return case(*whens, else_=otherwise)


@dataclass(frozen=True, slots=True)
class GoalBound:
    """How a goal of so many minutes reads from the buckets.

    Every bucket with an id <= `whole` holds only values within the goal; when the goal splits
    bucket `split`, its values up to `most_ms` are within too (counted from the figure rows).
    """

    whole: int
    split: int | None
    most_ms: int


def goal_bound(minutes: float) -> GoalBound:
    """The buckets within a goal: "value <= goal" compares value_ms / 60000.0 with the goal,
    as the definition does, so the largest value within it is found in those floats."""
    most = math.floor(minutes * _MINUTE_MS)
    while most / 60000.0 > minutes:
        most -= 1
    while (most + 1) / 60000.0 <= minutes:
        most += 1
    bucket = value_bucket(most)
    if bucket <= minutes:  # the bucket's edge is within the goal: so is every value in it
        return GoalBound(bucket, None, most)
    return GoalBound(bucket - 1, bucket, most)  # ids are integers: "< bucket" is "<= bucket - 1"
