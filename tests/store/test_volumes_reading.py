"""Volumes read from the hourly counts equal a count of the orders' own times, bucket by local
bucket, across a change of the clocks and with part hours at both edges of the window."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from store.engine import create_engine
from store.migrate import migrate
from store.reading.volumes import VolumeQuery, read_volumes
from store.rebuild import rebuild_read_models
from store.schema import orders, patients
from tests.store import flow_reference as flow
from tests.store.readmodels.test_read_models import _volumes

# Each zone with the day its clocks go back (the wall hour 01:00 or 02:00 happens twice).
ZONES = {
    "Europe/Berlin": datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    "America/St_Johns": datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
}
TIMES = ("ordered_at", "exam_started_at", "exam_completed_at", "images_available_at")
MORE_TIMES = ("final_report_at", "cancelled_at", "discontinued_at", "no_show_at")


def _orders(change: datetime, count: int) -> list[dict[str, Any]]:
    """Orders whose times fall within a day and a half of the change, some missing."""
    draw = random.Random(5)
    rows = []
    for number in range(count):
        times = {
            name: change + timedelta(minutes=draw.uniform(-2200, 2200))
            if draw.random() < 0.6
            else None
            for name in (*TIMES, *MORE_TIMES)
        }
        rows.append(
            {
                "accession": f"V{number}",
                "patient_id": 1,
                "status": "ordered",
                "modality": draw.choice(["CT", "MR", ""]),
                "priority": "R",
                "patient_class": "outpatient",
                "created_at": change,
                "updated_at": change,
                **times,
            }
        )
    return rows


@pytest.fixture(params=sorted(ZONES))
async def department(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[tuple[AsyncConnection, ZoneInfo, list[dict[str, Any]]]]:
    """A migrated store with orders around a zone's change of the clocks, counted per hour."""
    zone = ZoneInfo(request.param)
    rows = _orders(ZONES[request.param], 300)
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            now = ZONES[request.param]
            await conn.execute(
                insert(patients),
                [{"identifier": "P1", "authority": "H", "created_at": now, "updated_at": now}],
            )
            await conn.execute(insert(orders), rows)
            await conn.run_sync(rebuild_read_models, zone)
            yield conn, zone, rows
            await conn.rollback()
    finally:
        await engine.dispose()


def _expected(
    rows: list[dict[str, Any]], query: VolumeQuery
) -> dict[tuple[datetime, str | None], Counter[str]]:
    """Each order time in [start, end) counted under its local bucket's start, by definition."""
    counted: dict[tuple[datetime, str | None], Counter[str]] = {}
    for row in rows:
        for measure, at in _volumes(row):
            if not query.start <= at < query.end:
                continue
            wall = at.astimezone(query.tz).replace(tzinfo=None)
            day = datetime.combine(wall.date(), time())
            start = {
                "hour": wall.replace(minute=0, second=0, microsecond=0),
                "day": day,
                "week": day - timedelta(days=day.weekday()),
            }[query.interval]
            group = row["modality"] if query.group_by == "modality" else None
            counted.setdefault((start.replace(tzinfo=query.tz), group), Counter())[measure] += 1
    return counted


@pytest.mark.parametrize("interval", ["hour", "day", "week"])
@pytest.mark.parametrize("group_by", [None, "modality"])
@pytest.mark.parametrize(
    "window",
    [
        (timedelta(minutes=-1337, seconds=-31), timedelta(minutes=1411, seconds=12)),
        (timedelta(minutes=-25), timedelta(minutes=-3)),  # inside one hour: no whole hour
        (timedelta(minutes=-35), timedelta(minutes=50)),  # across the change, no whole hour
        (timedelta(hours=-30), timedelta(hours=30)),  # whole hours only
    ],
)
async def test_volumes_equal_the_orders_counted_by_definition(
    department: tuple[AsyncConnection, ZoneInfo, list[dict[str, Any]]],
    interval: str,
    group_by: str | None,
    window: tuple[timedelta, timedelta],
) -> None:
    """Every bucket and group holds the orders' counts; paged, the same rows in order."""
    conn, zone, rows = department
    change = next(at for name, at in ZONES.items() if ZoneInfo(name) == zone)
    query = VolumeQuery(
        start=change + window[0],
        end=change + window[1],
        tz=zone,
        interval=interval,
        group_by=group_by,
    )
    whole = (await read_volumes(conn, query, after=None, limit=10_000)).items
    found = {
        (item.bucket, item.group): Counter(
            {
                name: getattr(item, name)
                for name in ("ordered", "performed", "reported", "cancelled", "no_shows")
                if getattr(item, name)
            }
        )
        for item in whole
    }
    assert found == _expected(rows, query)
    assert len(found) == len(whole)
    assert await flow.every_page(read_volumes, conn, query, 4) == list(whole)
