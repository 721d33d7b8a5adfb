"""On both stores: months of figures applied shuffled in random batch cuts, then read for random
windows (their edges inside days, across a DST change) and every grouping, give exactly the
counts, percentiles and goal counts that store.figures computes from the figure rows."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from store import figures
from store.engine import create_engine
from store.fold.figure_counts import month_start, week_start
from store.reading.turnaround import GROUPS, FigureRow, TurnaroundQuery, read_turnaround
from store.schema import figure_counts, order_figures
from store.write import write_batch
from tests.store.readmodels.month import START, ZONE, month
from tests.support.applied import applied_message

TZ = ZoneInfo(ZONE)
ORDERS = 60


def _goals(ns: str) -> dict[str, float]:
    """Goals on bucket edges and goals that split a bucket (17.5 min, 100.5 min, 1000.5 min)."""
    return {
        f"report_turnaround/{ns}CT/*/*": 600.0,
        "report_turnaround/*/S/emergency": 1000.5,
        "report_turnaround/*/*/*": 1440.0,
        "wait/*/*/outpatient": 100.5,
        "access/*/S/*": 120.0,
        "exam_duration/*/*/*": 17.5,
        "start_delay/*/R/*": -2.0,
    }


def _apply(conn: Connection, ns: str, seed: int, order: list[int], cuts: list[int]) -> None:
    sent = month(ns, orders=ORDERS, seed=seed)
    order = [n for n in order if n < len(sent)] + [n for n in range(len(order), len(sent))]
    bounds = sorted({c % (len(order) + 1) for c in cuts} | {0, len(order)})
    for a, b in itertools.pairwise(bounds):
        batch = [
            applied_message(sent[n], received_at=START, control_id=f"{ns}-{n}") for n in order[a:b]
        ]
        if batch:
            write_batch(conn, batch, START, tz=TZ)


def _reference(conn: Connection, query: TurnaroundQuery) -> list[tuple[Any, ...]]:
    """Each group's figures straight from the figure rows, by store.figures."""
    f = order_figures.c
    rows = conn.execute(
        select(order_figures).where(f.end_at >= query.start, f.end_at < query.end)
    ).mappings()
    groups: dict[tuple[int, str], list[tuple[float, float | None]]] = defaultdict(list)
    names = list(figures.FIGURES)
    for row in rows:
        if row["figure"] not in query.figures:
            continue
        group = {None: "", "day": row["day"].isoformat()}.get(query.group_by)
        group = row[query.group_by] if group is None else group
        goal = figures.goal_for(
            query.goals, row["figure"], row["modality"], row["priority"], row["patient_class"]
        )
        groups[(names.index(row["figure"]), group)].append((row["value_ms"] / 60000.0, goal))
    found = []
    for (fig, group), values in sorted(groups.items()):
        measured = [v for v, _ in values]
        goaled = [(v, goal) for v, goal in values if goal is not None]
        found.append(
            (
                names[fig],
                None if query.group_by is None else group,
                len(measured),
                *(figures.percentile(measured, p) for p in figures.PERCENTILES),
                len(goaled),
                sum(1 for v, goal in goaled if v <= goal),
            )
        )
    return found


def _shown(item: FigureRow) -> tuple[Any, ...]:
    return (
        item.figure,
        item.group,
        item.count,
        item.p50,
        item.p90,
        item.p95,
        item.with_goal,
        item.within_goal,
    )


def _counts(conn: Connection) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """The stored counts, and the counts of the figure rows, per span, start and bucket."""
    f = order_figures.c
    stored: Counter[tuple[Any, ...]] = Counter()
    for row in conn.execute(select(figure_counts)).mappings():
        key = (row["span"], row["start"], row["figure"], row["modality"], row["priority"])
        stored[(*key, row["patient_class"], row["bucket"])] += row["count"]
    counted: Counter[tuple[Any, ...]] = Counter()
    keys = (f.day, f.figure, f.modality, f.priority, f.patient_class, f.bucket)
    for day, *rest, n in conn.execute(select(*keys, func.count()).group_by(*keys)):
        counted[("day", day, *rest)] += n
        counted[("week", week_start(day), *rest)] += n
        counted[("month", month_start(day), *rest)] += n
    return +stored, +counted


windows = st.tuples(
    st.floats(min_value=-2, max_value=33),  # start, days after START
    st.floats(min_value=0, max_value=25),  # length in days
    st.integers(min_value=0, max_value=10**6 - 1),  # microseconds, so edges fall anywhere
)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10**6),
    order=st.permutations(range(ORDERS * 6)),
    cuts=st.lists(st.integers(min_value=0, max_value=ORDERS * 6), max_size=10),
    spans=st.lists(windows, min_size=4, max_size=4),
)
def test_bucketed_reads_equal_the_exact_percentiles(
    database_url: str,
    seed: int,
    order: list[int],
    cuts: list[int],
    spans: list[tuple[float, float, int]],
) -> None:
    """Every figure, grouping and window: the counts and exact floats of the definition."""

    async def run() -> None:
        engine = create_engine(database_url)
        ns = f"t{uuid.uuid4().hex[:5]}"
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_apply, ns, seed, order, cuts)
            async with engine.connect() as conn:
                stored, counted = await conn.run_sync(_counts)
                assert stored == counted
                midnight = datetime(2026, 3, 20, tzinfo=TZ)  # whole days only, as well
                aligned = [(midnight, midnight + timedelta(days=14))]
                for start, end in aligned + [_window(*span) for span in spans]:
                    for group_by in (None, *GROUPS):
                        query = TurnaroundQuery(
                            figures=tuple(figures.FIGURES),
                            start=start,
                            end=end,
                            tz=TZ,
                            group_by=group_by,
                            goals=_goals(ns),
                        )
                        page = await read_turnaround(conn, query, after=None, limit=10_000)
                        expected = await conn.run_sync(_reference, query)
                        assert [_shown(item) for item in page.items] == expected
        finally:
            await engine.dispose()

    asyncio.run(run())


def _window(start: float, length: float, micro: int) -> tuple[datetime, datetime]:
    begin = START + timedelta(days=start, microseconds=micro)
    return begin, begin + timedelta(days=length)
