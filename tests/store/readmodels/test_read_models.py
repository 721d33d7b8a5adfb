"""On both stores: a department month applied shuffled, in random batch cuts, leaves read
models equal to a recomputation from the orders' milestones by DESIGN.md's definitions."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import create_engine
from store.figure_buckets import value_bucket
from store.fold.figure_counts import month_start, week_start
from store.fold.readmodels import facility_day, facility_hour, wall_hour
from store.inbound import Inbound
from store.rebuild import rebuild_read_models
from store.schema import (
    board_orders,
    devices,
    figure_counts,
    order_figures,
    orders,
    procedure_steps,
    studies,
    volume_hours,
)
from store.write import write_batch
from tests.store.readmodels.month import START, ZONE, month
from tests.support.applied import applied_message

TZ = ZoneInfo(ZONE)
COUNT = len(month("x"))
# DESIGN.md, "Patient-flow figures": figure -> (from, to).
DEFINITIONS = {
    "access": ("ordered_at", "exam_started_at"),
    "wait": ("arrived_at", "exam_started_at"),
    "start_delay": ("scheduled_start", "exam_started_at"),
    "exam_duration": ("exam_started_at", "exam_completed_at"),
    "report_turnaround": ("exam_completed_at", "final_report_at"),
    "preliminary_turnaround": ("exam_completed_at", "preliminary_report_at"),
    "total_turnaround": ("ordered_at", "final_report_at"),
}


def _inbound(ns: str, number: int, events: tuple) -> Inbound:
    return applied_message(events, received_at=START, control_id=f"{ns}-{number}")


async def _apply(engine: AsyncEngine, ns: str, batches: list[list[int]]) -> None:
    sent = month(ns)
    for batch in batches:
        async with engine.begin() as conn:
            await conn.run_sync(
                write_batch, [_inbound(ns, n, sent[n]) for n in batch], START, tz=TZ
            )


def _cut(order: list[int], cuts: list[int]) -> list[list[int]]:
    bounds = sorted({c % (len(order) + 1) for c in cuts} | {0, len(order)})
    return [order[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def stored(conn: Connection, ns: str) -> dict[str, Any]:
    """The read models' rows of the namespace, orders named by accession."""
    acc = orders.c.accession
    figures = conn.execute(
        select(order_figures, acc).join(orders).where(acc.like(f"{ns}%"))
    ).mappings()
    board = conn.execute(select(board_orders, acc).join(orders).where(acc.like(f"{ns}%")))
    hours = conn.execute(select(volume_hours).where(volume_hours.c.modality.like(f"{ns}%")))
    measures = ("ordered", "performed", "reported", "cancelled", "no_shows")
    counted: Counter[tuple] = Counter()
    for row in hours.mappings():
        for m in measures:
            counted[(row["hour_at"], row["modality"], row["device"], m)] += row[m]
    return {
        "figures": {
            (r["accession"], r["figure"]): (
                r["end_at"],
                r["value_ms"],
                r["modality"],
                r["priority"],
                r["patient_class"],
                r["device"],
                r["day"],
            )
            for r in figures
        },
        "board": {
            r["accession"]: (
                r["state"],
                r["since"],
                r["scheduled_start"],
                r["modality"],
                r["device"],
            )
            for r in board.mappings()
        },
        "volumes": +counted,
    }


def recomputed(conn: Connection, ns: str) -> dict[str, Any]:
    """The same, worked out here from the orders, steps and studies by the definitions."""
    rows = conn.execute(select(orders).where(orders.c.accession.like(f"{ns}%"))).mappings()
    found: dict[str, Any] = {"figures": {}, "board": {}, "volumes": Counter()}
    for o in rows:
        device, open_device = _devices(conn, o["id"])
        if o["cancelled_at"] is None:
            for name, (a, b) in DEFINITIONS.items():
                if o[a] is not None and o[b] is not None:
                    found["figures"][(o["accession"], name)] = (
                        o[b],
                        _whole_ms(o[b] - o[a]),
                        o["modality"],
                        o["priority"],
                        o["patient_class"],
                        device,
                        o[b].astimezone(TZ).date(),
                    )
        state = _board_state(o, open_device)
        if state is not None:
            name, since = state
            shown = open_device if name == "in_exam" and open_device else device
            found["board"][o["accession"]] = (
                name,
                since,
                o["scheduled_start"],
                o["modality"],
                shown,
            )
        for measure, at in _volumes(o):
            hour = at.astimezone(TZ).replace(minute=0, second=0, microsecond=0)
            found["volumes"][(hour.astimezone(START.tzinfo), o["modality"], device, measure)] += 1
    return found


def kept_counts(conn: Connection) -> tuple[dict[tuple[int, str], int], Counter[tuple]]:
    """Each figure row's bucket, and the stored counts."""
    f = order_figures.c
    buckets = {
        (order_id, figure): bucket
        for order_id, figure, bucket in conn.execute(select(f.order_id, f.figure, f.bucket))
    }
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in conn.execute(select(figure_counts)).mappings():
        key = (row["span"], row["start"], row["figure"], row["modality"], row["priority"])
        counts[(*key, row["patient_class"], row["bucket"])] += row["count"]
    return buckets, +counts


def counted_by_definition(conn: Connection) -> tuple[dict[tuple[int, str], int], Counter[tuple]]:
    """The same from the figure rows' values and days (store.figure_buckets)."""
    buckets: dict[tuple[int, str], int] = {}
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in conn.execute(select(order_figures)).mappings():
        bucket = value_bucket(row["value_ms"])
        buckets[(row["order_id"], row["figure"])] = bucket
        rest = (row["figure"], row["modality"], row["priority"], row["patient_class"], bucket)
        counts[("day", row["day"], *rest)] += 1
        counts[("week", week_start(row["day"]), *rest)] += 1
        counts[("month", month_start(row["day"]), *rest)] += 1
    return buckets, counts


def _whole_ms(delta: timedelta) -> int:
    """Milliseconds rounded half away from zero, as both databases round them."""
    micro = delta // timedelta(microseconds=1)
    sign = -1 if micro < 0 else 1
    return sign * ((abs(micro) + 500) // 1000)


def _devices(conn: Connection, order_id: int) -> tuple[str, str | None]:
    s = procedure_steps.c
    steps = conn.execute(
        select(devices.c.ae_title, s.station_ae_title, s.status, s.started_at)
        .select_from(procedure_steps.outerjoin(devices, devices.c.id == s.device_id))
        .where(s.order_id == order_id)
        .order_by(s.started_at.is_(None), s.started_at, s.id)
    ).all()
    firsts = conn.execute(
        select(devices.c.ae_title)
        .select_from(studies.join(devices, devices.c.id == studies.c.device_id))
        .where(studies.c.order_id == order_id)
        .order_by(studies.c.first_instance_at, studies.c.id)
    ).all()
    known = [ae for ae, *_ in steps if ae is not None] + [ae for (ae,) in firsts]
    running = [ae or station for ae, station, status, _ in steps if status == "IN PROGRESS"]
    return (known[0] if known else ""), (running[0] if running else None)


def _board_state(o: Any, open_device: str | None) -> tuple[str, datetime] | None:
    if o["status"] in ("cancelled", "discontinued", "final_report"):
        return None
    done = o["exam_completed_at"] or o["preliminary_report_at"]
    if (
        o["exam_started_at"]
        and not done
        and (open_device is not None or not o["images_available_at"])
    ):
        return "in_exam", o["exam_started_at"]
    ends = [o[c] for c in ("exam_completed_at", "images_available_at", "preliminary_report_at")]
    if any(ends):
        return "awaiting_report", min(e for e in ends if e)
    if o["arrived_at"]:
        return "waiting", o["arrived_at"]
    if o["scheduled_start"]:
        return None if o["no_show_at"] else ("scheduled", o["scheduled_start"])
    return ("ordered", o["ordered_at"]) if o["ordered_at"] else None


def _volumes(o: Any) -> list[tuple[str, datetime]]:
    found = [("ordered", o["ordered_at"]), ("reported", o["final_report_at"])]
    found.append(("no_shows", o["no_show_at"]))
    if o["exam_completed_at"]:
        found.append(("performed", o["exam_completed_at"]))
    elif o["exam_started_at"] is None:
        found.append(("performed", o["images_available_at"]))
    ends = [at for at in (o["cancelled_at"], o["discontinued_at"]) if at]
    found.append(("cancelled", min(ends) if ends else None))
    return [(m, at) for m, at in found if at is not None]


async def _compare(engine: AsyncEngine, ns: str) -> tuple[dict, dict]:
    async with engine.connect() as conn:
        kept, expected = await conn.run_sync(stored, ns), await conn.run_sync(recomputed, ns)
        # The whole store's bucket counts against its figure rows (namespaces share them).
        kept["counts"], expected["counts"] = (
            await conn.run_sync(kept_counts),
            await conn.run_sync(counted_by_definition),
        )
        return kept, expected


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(COUNT)),
    cuts=st.lists(st.integers(min_value=0, max_value=COUNT), max_size=12),
)
def test_read_models_equal_the_definitions_whatever_the_order_and_batches(
    database_url: str, order: list[int], cuts: list[int]
) -> None:
    """A shuffled month in random batches keeps every read model equal to the definitions."""

    async def run() -> tuple[dict, dict]:
        engine = create_engine(database_url)
        try:
            ns = f"m{uuid.uuid4().hex[:5]}"
            await _apply(engine, ns, _cut(order, cuts))
            return await _compare(engine, ns)
        finally:
            await engine.dispose()

    kept, expected = asyncio.run(run())
    assert kept == expected
    assert len(kept["figures"]) > 50 and len(kept["board"]) > 3 and kept["volumes"]


async def test_rebuild_gives_the_rows_the_fold_kept(database_url: str) -> None:
    """rebuild-read-models recomputes exactly what the fold kept, message by message."""
    engine = create_engine(database_url)
    try:
        ns = f"r{uuid.uuid4().hex[:5]}"
        await _apply(engine, ns, [[n] for n in range(COUNT)])
        async with engine.connect() as conn:
            kept = await conn.run_sync(stored, ns)
            counts = await conn.run_sync(kept_counts)
        async with engine.begin() as conn:
            await conn.run_sync(rebuild_read_models, TZ)
        async with engine.connect() as conn:
            rebuilt = await conn.run_sync(stored, ns)
            expected = await conn.run_sync(recomputed, ns)
            recounted = await conn.run_sync(kept_counts)
            expected_counts = await conn.run_sync(counted_by_definition)
    finally:
        await engine.dispose()
    assert rebuilt == kept == expected
    assert recounted == counts == expected_counts


def test_times_at_the_calendars_ends_still_have_a_day_and_an_hour() -> None:
    """A sender's year-9999 or year-1 time gets a day and an hour instead of refusing the batch."""
    late = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
    early = datetime(1, 1, 1, 0, 30, tzinfo=UTC)
    east, west = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
    assert facility_day(late, east).isoformat() == "9999-12-31"
    assert facility_hour(late, east) == datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    assert facility_day(early, west).isoformat() == "0001-01-01"
    assert facility_hour(early, west) == datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    assert wall_hour(facility_hour(late, east), east) > 0
