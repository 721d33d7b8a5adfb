"""The flow-figure rules: percentiles, goals, local buckets, and SQL that agrees with them."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from store.engine import create_engine
from store.figures import (
    PERCENTILES,
    bucket_index,
    bucket_origin,
    bucket_start,
    goal_for,
    goal_rules,
    offset_spans,
    percentile,
)
from store.migrate import migrate
from store.reading.turnaround import TurnaroundQuery, read_turnaround
from store.rebuild import rebuild_read_models
from store.schema import orders

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # n=1: every percentile is the one value.
        ([7.0], (7.0, 7.0, 7.0)),
        # h=(n-1)p=1.5, 2.7, 2.85: 20+0.5*20, 30+0.7*10, 30+0.85*10.
        ([40.0, 10.0, 30.0, 20.0], (25.0, 37.0, 38.5)),
        # Two values: the percentile is that share of the way from one to the other.
        ([0.0, 100.0], (50.0, 90.0, 95.0)),
        # Ties: h=1.5 between 5 and 5; h=2.7 is 5+0.7*5; h=2.85 is 5+0.85*5.
        ([5.0, 5.0, 5.0, 10.0], (5.0, 8.5, 9.25)),
        # n=11: h=5, 9, 9.5 land on ranks, or halfway between the last two.
        ([float(v) for v in range(11)], (5.0, 9.0, 9.5)),
        # Negative values (an exam that starts early) sort like any others.
        ([-5.0, 10.0, 10.0], (10.0, 10.0, 10.0)),
    ],
)
def test_percentiles_interpolate_between_the_nearest_ranks(
    values: list[float], expected: tuple[float, float, float]
) -> None:
    """p50, p90 and p95 match hand-computed linear interpolation (NumPy "linear")."""
    got = tuple(percentile(values, p) for p in PERCENTILES)
    assert got == pytest.approx(expected, abs=1e-12)


def test_a_percentile_of_nothing_is_refused() -> None:
    """An empty list has no percentile."""
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def _reference(values: list[int], percent: int) -> Fraction:
    """The definition with exact arithmetic: h = (n - 1) p, between ranks floor(h) and +1."""
    ordered = sorted(values)
    h = Fraction(len(ordered) - 1) * Fraction(percent, 100)
    low = int(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (h - low)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-10_000, 10_000_000), min_size=1, max_size=60))
def test_the_percentile_helper_is_the_linear_interpolation_definition(values: list[int]) -> None:
    """For any durations the helper equals the exact definition, and p50 <= p90 <= p95."""
    got = [percentile(values, p) for p in PERCENTILES]
    for p, value in zip(PERCENTILES, got, strict=True):
        assert value == pytest.approx(float(_reference(values, p)), rel=1e-12, abs=1e-9)
    assert got[0] <= got[1] <= got[2]
    if len(values) > 1:
        # statistics' "inclusive" method is the same definition (cut points 1..99 of 100).
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        assert got == pytest.approx([cuts[p - 1] for p in PERCENTILES], rel=1e-12, abs=1e-9)


GOALS = {
    "report_turnaround/*/S/emergency": 60.0,
    "report_turnaround/*/*/emergency": 120.0,
    "report_turnaround/CT/*/*": 2000.0,
    "report_turnaround/*/R/*": 1000.0,
    "report_turnaround/*/*/*": 5000.0,
    "wait/*/*/outpatient": 30.0,
}


@pytest.mark.parametrize(
    ("figure", "order", "expected"),
    [
        ("report_turnaround", ("CT", "S", "emergency"), 60.0),  # one "*" beats two
        ("report_turnaround", ("MR", "R", "emergency"), 120.0),  # tie: "*/*/emergency" sorts first
        ("report_turnaround", ("CT", "R", "outpatient"), 1000.0),  # tie: "*/R/*" < "CT/*/*"
        ("report_turnaround", ("CT", "U", "inpatient"), 2000.0),
        ("report_turnaround", ("US", "U", "inpatient"), 5000.0),  # only the catch-all matches
        ("wait", ("CT", "S", "outpatient"), 30.0),
        ("wait", ("CT", "S", "emergency"), None),  # no goal matches
        ("access", ("CT", "S", "emergency"), None),  # no goal for the figure
    ],
)
def test_the_most_specific_matching_goal_applies(
    figure: str, order: tuple[str, str, str], expected: float | None
) -> None:
    """Fewest "*" wins; among equally specific goals the first in sorted key order."""
    assert goal_for(GOALS, figure, *order) == expected


def test_goal_rules_come_in_the_order_they_apply() -> None:
    """A figure's rules are ordered by wildcard count, then key."""
    assert [rule.key for rule in goal_rules(GOALS, "report_turnaround")] == [
        "report_turnaround/*/S/emergency",
        "report_turnaround/*/*/emergency",
        "report_turnaround/*/R/*",
        "report_turnaround/CT/*/*",
        "report_turnaround/*/*/*",
    ]
    with pytest.raises(ValueError, match="figure/modality"):
        goal_rules({"wait/CT": 5.0}, "wait")


def test_offset_spans_find_a_daylight_saving_change() -> None:
    """Berlin moves from +01:00 to +02:00 at 01:00 UTC on 2026-03-29."""
    start, end = datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)
    assert offset_spans(BERLIN, start, end) == (
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600),
        (None, 7200),
    )
    assert offset_spans(ZoneInfo("UTC"), start, end) == ((None, 0),)


def test_buckets_are_local_hours_days_and_weeks() -> None:
    """Bucket origins are local wall times; indexes and starts map back and forth."""
    instant = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # Thursday 00:30 in Berlin
    assert bucket_origin(instant, BERLIN, "hour") == datetime(2026, 11, 19, 0, 0)
    assert bucket_origin(instant, BERLIN, "day") == datetime(2026, 11, 19)
    assert bucket_origin(instant, BERLIN, "week") == datetime(2026, 11, 16)
    origin = datetime(2026, 11, 16)
    assert bucket_index(origin, datetime(2026, 11, 19), "day") == 3
    assert bucket_start(origin, 3, "day", BERLIN).isoformat() == "2026-11-19T00:00:00+01:00"


@pytest.fixture
async def migrated_url(database_url: str) -> AsyncIterator[str]:
    """A database of each kind with the schema in place."""
    engine = create_engine(database_url)
    await migrate(engine)
    await engine.dispose()
    yield database_url


async def _sql_figures(
    url: str, durations_ms: list[int], modalities: list[str]
) -> dict[str | None, tuple[int, float, float, float, int, int]]:
    """Access figures by modality of one order per duration, in a rolled-back transaction."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            await conn.execute(
                insert(orders),
                [
                    {
                        "accession": f"H{number}",
                        "status": "exam_started",
                        "modality": modality,
                        "ordered_at": T0,
                        "exam_started_at": T0 + timedelta(milliseconds=duration),
                        "created_at": T0,
                        "updated_at": T0,
                    }
                    for number, (duration, modality) in enumerate(
                        zip(durations_ms, modalities, strict=True)
                    )
                ],
            )
            await conn.run_sync(rebuild_read_models, BERLIN)  # rows written behind the fold
            query = TurnaroundQuery(
                figures=("access",),
                start=T0 - timedelta(days=1),
                end=T0 + timedelta(days=30),
                tz=BERLIN,
                group_by="modality",
                goals={"access/CT/*/*": 30.0},
            )
            page = await read_turnaround(conn, query, after=None, limit=10)
            await conn.rollback()
    finally:
        await engine.dispose()
    return {
        row.group: (row.count, row.p50, row.p90, row.p95, row.with_goal, row.within_goal)
        for row in page.items
    }


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(-3_600_000, 20 * 86_400_000), st.sampled_from(["CT", "MR"])),
        min_size=1,
        max_size=25,
    )
)
def test_sql_percentiles_equal_the_python_reference(
    migrated_url: str, orders_drawn: list[tuple[int, str]]
) -> None:
    """On both databases the SQL figures equal the helper's, float for float."""
    durations = [duration for duration, _ in orders_drawn]
    modalities = [modality for _, modality in orders_drawn]
    got = asyncio.run(_sql_figures(migrated_url, durations, modalities))
    expected = {}
    for modality in sorted(set(modalities)):
        minutes = [d / 60_000 for d, m in orders_drawn if m == modality]
        goal = 30.0 if modality == "CT" else None
        expected[modality] = (
            len(minutes),
            *(percentile(minutes, p) for p in PERCENTILES),
            len(minutes) if goal else 0,
            sum(value <= goal for value in minutes) if goal else 0,
        )
    assert got == expected
