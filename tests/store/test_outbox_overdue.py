"""Open figures past their goal owed to webhooks by the clock-driven look, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest
from sqlalchemy import select

from mappers.events import (
    CodedValue,
    Milestone,
    MilestoneReached,
    OrderDetails,
    OrderPlaced,
    PatientId,
)
from store.engine import create_engine
from store.fold.outbox import WEBHOOK, Destinations, Route
from store.ingest import Inbound, Ingest, Outcome
from store.outbox_overdue import owe_overdue_figures
from store.schema import outbox
from tests.support.applied import applied_message

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOOKS = Route("hooks", WEBHOOK, frozenset({"turnaround_over_goal"}))
OTHERS = Route("others", WEBHOOK, frozenset({"milestone"}))
# Report turnaround: an hour for STAT CT, a day for the rest of CT.
GOALS = {"report_turnaround/CT/S/*": 60.0, "report_turnaround/CT/*/*": 1440.0}


def _order(accession: str, priority: str, completed_ago: timedelta) -> Inbound:
    events = (
        OrderPlaced(
            accession=accession,
            patient=PatientId("MRN1", "HOSP"),
            details=OrderDetails(
                procedure=CodedValue("71250", "CT CHEST", "CPT4"), modality="CT", priority=priority
            ),
            ordered_at=NOW - completed_ago - timedelta(minutes=30),
        ),
        MilestoneReached(accession, Milestone.EXAM_COMPLETED, NOW - completed_ago),
    )
    return applied_message(events, received_at=NOW, control_id=accession, peer="127.0.0.1:1")


@pytest.fixture
async def ingest(database_url: str) -> AsyncIterator[Ingest]:
    """A started writer whose batches owe the late-figure notices to HOOKS too."""
    engine = create_engine(database_url)
    writer = Ingest(engine, timeout=10, destinations=Destinations((HOOKS, OTHERS), GOALS))
    await writer.start()
    yield writer
    await writer.close()
    await engine.dispose()


async def _owed(ingest: Ingest) -> list[tuple[str, dict]]:
    async with ingest._engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.destination, outbox.c.data)
            .where(outbox.c.event_type == "turnaround_over_goal")
            .order_by(outbox.c.id)
        )
        return [(destination, orjson.loads(data)) for destination, data in rows]


async def test_an_open_figure_past_its_goal_is_owed_once_and_again_when_late(
    ingest: Ingest,
) -> None:
    """A STAT report 90 minutes overdue is owed once while open, to the subscriber only; a
    routine one within its day is not; the late report then brings the closing notice."""
    await ingest.submit(_order("STAT1", "S", timedelta(minutes=90)))
    await ingest.submit(_order("ROUTINE1", "R", timedelta(minutes=90)))
    look = partial(owe_overdue_figures, routes=(HOOKS, OTHERS), goals=GOALS, now=NOW)
    assert await ingest.run(look) == 1
    assert await ingest.run(look) == 0  # announced: not owed twice
    report = Inbound(
        protocol="hl7v2",
        received_at=NOW,
        peer="127.0.0.1:1",
        raw=b"report",
        outcome=Outcome.APPLIED,
        events=(MilestoneReached("STAT1", Milestone.FINAL_REPORT, NOW),),
        sending_application="RIS",
        sending_facility="H",
        control_id="REPORT1",
        ack_code="AA",
    )
    await ingest.submit(report)
    assert await _owed(ingest) == [
        (
            "hooks",
            {
                "accession": "STAT1",
                "figure": "report_turnaround",
                "minutes": 90.0,
                "goal_minutes": 60.0,
                "open": True,
                "at": (NOW - timedelta(minutes=30)).isoformat(),
            },
        ),
        (
            "hooks",
            {
                "accession": "STAT1",
                "figure": "report_turnaround",
                "minutes": 90.0,
                "goal_minutes": 60.0,
                "open": False,
                "at": NOW.isoformat(),
            },
        ),
    ]


async def test_nothing_is_owed_without_a_subscriber_or_a_goal(ingest: Ingest) -> None:
    """No webhook takes the event, or no goal is set: the look adds nothing."""
    await ingest.submit(_order("STAT2", "S", timedelta(minutes=90)))
    for routes, goals in (((OTHERS,), GOALS), ((HOOKS,), {})):
        look = partial(owe_overdue_figures, routes=routes, goals=goals, now=NOW)
        assert await ingest.run(look) == 0


async def test_a_figure_open_for_longer_than_the_lookback_is_stale_not_news(
    ingest: Ingest,
) -> None:
    """An exam completed three days ago without a report is not announced by a first look."""
    await ingest.submit(_order("OLD1", "S", timedelta(days=3)))
    look = partial(owe_overdue_figures, routes=(HOOKS,), goals=GOALS, now=NOW)
    assert await ingest.run(look) == 0
