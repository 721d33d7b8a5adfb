"""The integrity reads on both stores, with the clock passed in: each threshold counts from
the problem's start, a problem is a finding once it has lasted longer, and `since` narrows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mappers.events import (
    CodedValue,
    Event,
    OrderDetails,
    OrderPlaced,
    PatientId,
    ProcedureStepCreated,
    Provider,
    ReportIssued,
    ReportStatus,
    ScheduledStep,
    StepStatus,
)
from mappers.integrity import Thresholds
from store.engine import create_engine
from store.ingest import Outcome
from store.reading.integrity import find_integrity
from store.write import write_batch
from tests.support.applied import applied_message

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
LIMITS = Thresholds(
    images_after=timedelta(minutes=120),
    unordered_study_after=timedelta(minutes=60),
    open_step_after=timedelta(hours=12),
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    yield made
    await made.dispose()


async def write(engine: AsyncEngine, *events: Event) -> None:
    inbound = applied_message(events, received_at=T0)
    async with engine.begin() as conn:
        (stored,) = await conn.run_sync(write_batch, [inbound], T0)
    assert stored.outcome is Outcome.APPLIED


def placed(accession: str, at: datetime, start: datetime | None = None) -> OrderPlaced:
    details = OrderDetails(procedure=CodedValue("X", "CT HEAD", "L"), modality="CT")
    return OrderPlaced(accession, PatientId(f"P-{accession}", "H"), details, at, start)


def step(uid: str, accession: str, status: StepStatus, ended: datetime | None) -> Event:
    return ProcedureStepCreated(
        uid, status, (ScheduledStep(accession=accession),), None, "CT01", "CT", T0, ended, (), T0
    )


async def kinds_at(engine: AsyncEngine, now: datetime, since: datetime | None = None) -> list:
    async with engine.connect() as conn:
        found = await find_integrity(conn, now, LIMITS, since=since)
    return sorted((f.kind, f.accession) for f in found)


async def test_each_threshold_counts_from_the_problem_and_is_strict(engine: AsyncEngine) -> None:
    """At exactly the threshold nothing is listed; a second later the finding is."""
    await write(engine, placed("DONE", T0 - timedelta(hours=1)))
    await write(engine, step("1.1", "DONE", StepStatus.COMPLETED, T0))
    await write(engine, placed("OPEN", T0 - timedelta(hours=1)))
    await write(engine, step("1.2", "OPEN", StepStatus.IN_PROGRESS, None))
    second = timedelta(seconds=1)
    assert await kinds_at(engine, T0 + timedelta(minutes=120)) == []
    assert await kinds_at(engine, T0 + timedelta(minutes=120) + second) == [("no_images", "DONE")]
    assert await kinds_at(engine, T0 + timedelta(hours=12) + second) == [
        ("no_images", "DONE"),
        ("open_step", "OPEN"),
    ]


async def test_a_no_show_waits_for_the_appointment_and_since_narrows(engine: AsyncEngine) -> None:
    """An appointment not yet begun is no candidate; `since` keeps problems begun since."""
    await write(engine, placed("LATER", T0 - timedelta(days=1), start=T0 + timedelta(hours=1)))
    await write(engine, placed("EARLY", T0 - timedelta(days=1), start=T0 - timedelta(hours=5)))
    report = ReportIssued("GHOST", ReportStatus.PRELIMINARY, "", Provider(), T0, None)
    await write(engine, report)
    assert await kinds_at(engine, T0) == [("no_show", "EARLY"), ("report_without_order", "GHOST")]
    after_early = T0 - timedelta(hours=4)
    assert await kinds_at(engine, T0, since=after_early) == [("report_without_order", "GHOST")]
    assert await kinds_at(engine, T0 + timedelta(hours=2)) == [
        ("no_show", "EARLY"),
        ("no_show", "LATER"),
        ("report_without_order", "GHOST"),
    ]
