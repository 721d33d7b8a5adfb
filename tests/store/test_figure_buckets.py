"""Value buckets: whole-minute edges that keep "value <= goal" exact, the same in SQL on both
stores as in Python, and goals that say which buckets lie within them."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import BigInteger, Integer, insert, select
from sqlalchemy.schema import Column, MetaData, Table

from store.engine import create_engine
from store.figure_buckets import bucket_expression, goal_bound, value_bucket

MINUTE = 60_000


@pytest.mark.parametrize(
    ("value_ms", "bucket"),
    [
        (0, 0),
        (1, 1),
        (MINUTE, 1),
        (MINUTE + 1, 2),
        (60 * MINUTE, 60),
        (60 * MINUTE + 1, 65),
        (90 * MINUTE, 90),
        (240 * MINUTE + 1, 255),
        (1440 * MINUTE, 1440),
        (2880 * MINUTE + 1, 3120),
        (10080 * MINUTE, 10080),
        (-1, 0),
        (-MINUTE, -1),
        (-MINUTE - 1, -1),
        (-60 * MINUTE, -60),
        (-64 * MINUTE, -60),
        (-65 * MINUTE, -65),
        (-10_000 * 365 * 1440 * MINUTE, -(10_000 * 365 * 1440)),
    ],
)
def test_a_bucket_is_the_smallest_edge_at_or_above_the_value(value_ms: int, bucket: int) -> None:
    """Bucket e holds (previous edge, e] in minutes: 1-minute edges to an hour, then coarser."""
    assert value_bucket(value_ms) == bucket


def test_buckets_grow_with_the_value_and_hold_their_edge() -> None:
    """Larger values never fall in an earlier bucket; a whole minute on an edge is its own."""
    draw = random.Random(3)
    values = sorted(
        draw.randrange(-50_000, 50_000) * draw.choice([1, 997, MINUTE]) for _ in range(5000)
    )
    buckets = [value_bucket(v) for v in values]
    assert buckets == sorted(buckets)
    for v, b in zip(values, buckets, strict=True):
        assert v <= b * MINUTE  # the id is the bucket's upper edge
        assert value_bucket(b * MINUTE) == b


async def test_the_sql_rule_gives_the_same_buckets(empty_database_url: str) -> None:
    """bucket_expression (the backfill's) equals value_bucket for values of every kind."""
    draw = random.Random(5)
    values = [0, 1, -1, MINUTE, -MINUTE, 2**62, -(2**62)]
    values += [e * MINUTE + d for e in (60, 240, 720, 2880, -60, -240, -2880) for d in (-1, 0, 1)]
    values += [draw.randrange(-(10**12), 10**12) for _ in range(3000)]
    values += [draw.randrange(-300 * MINUTE, 300 * MINUTE) for _ in range(3000)]
    probe = Table(
        "bucket_probe", MetaData(), Column("n", Integer, primary_key=True), Column("v", BigInteger)
    )
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(probe.create)
            await conn.execute(insert(probe), [{"n": n, "v": v} for n, v in enumerate(values)])
            rows = (
                await conn.execute(
                    select(probe.c.v, bucket_expression(probe.c.v)).order_by(probe.c.n)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [b for _, b in rows] == [value_bucket(v) for v in values]


@pytest.mark.parametrize(
    "minutes",
    [0.0, 1.0, 7.5, 30.0, 45.0, 59.99, 60.0, 60.5, 97.0, 120.0, 1440.0, 1441.0, -3.0, -62.0],
)
def test_a_goal_says_which_values_are_within_it(minutes: float) -> None:
    """Whole buckets up to `whole`, and in the bucket it splits the values up to `most_ms`,
    are exactly the values with value_ms / 60000.0 <= goal; a goal on an edge splits none."""
    bound = goal_bound(minutes)
    centre = int(minutes * MINUTE)
    for value in range(centre - 400 * MINUTE, centre + 400 * MINUTE, 997):
        for v in (value, centre - 1, centre, centre + 1):
            bucket = value_bucket(v)
            counted = bucket <= bound.whole or (bucket == bound.split and v <= bound.most_ms)
            assert counted == (v / 60000.0 <= minutes), (v, bound)
    assert (bound.split is None) == (value_bucket(round(minutes * MINUTE)) == minutes)
