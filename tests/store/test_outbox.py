"""The outbox in the store, on SQLite and PostgreSQL: rows written in the commit of the change
behind them, claimed in order per key, leased, recorded, retried, and (PostgreSQL) claimed by
one of two processes only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from mappers.events import (
    CodedValue,
    DeviceProbed,
    DeviceRegistered,
    DeviceRegistration,
    Milestone,
    MilestoneReached,
    OrderDetails,
    OrderPlaced,
    PatientId,
)
from store.engine import create_engine
from store.fold.outbox import DEAD, DELIVERED, HL7, PENDING, WEBHOOK, Destinations, Route
from store.ingest import Inbound, Ingest
from store.outbox import Attempt, OutboxItem, claim, list_outbox, record, release, retry_dead
from store.retention import Cutoffs, prune_step
from store.schema import outbox
from tests.support.applied import applied_message

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ROUTES = (
    Route("ris", HL7, frozenset({"exam_started", "exam_completed"})),
    Route("hooks", WEBHOOK, frozenset({"milestone", "order_cancelled", "device_down"})),
)
LEASE = timedelta(minutes=2)


def _t0() -> datetime:
    """A moment a little after the writer's clock (the real one) stamped the rows due."""
    return datetime.now(UTC) + timedelta(minutes=1)


def _inbound(control_id: str, *events: Any) -> Inbound:
    return applied_message(events, received_at=NOW, control_id=control_id, peer="127.0.0.1:1")


def _order(accession: str) -> OrderPlaced:
    return OrderPlaced(
        accession=accession,
        patient=PatientId("MRN1", "HOSP"),
        details=OrderDetails(procedure=CodedValue("71250", "CT CHEST", "CPT4"), modality="CT"),
        ordered_at=NOW,
    )


def _reached(accession: str, milestone: Milestone, minutes: int) -> MilestoneReached:
    return MilestoneReached(accession, milestone, NOW + timedelta(minutes=minutes))


def _render(item: OutboxItem, facts: Mapping[str, Any] | None) -> bytes:
    return orjson.dumps({"id": item.event_id, "facts": bool(facts)})


@pytest.fixture
async def ingest(database_url: str) -> AsyncIterator[Ingest]:
    """A started writer whose batches owe ROUTES their events."""
    engine = create_engine(database_url)
    writer = Ingest(engine, timeout=10, destinations=Destinations(ROUTES))
    await writer.start()
    yield writer
    await writer.close()
    await engine.dispose()


async def _rows(ingest: Ingest) -> list[dict[str, Any]]:
    async with ingest._engine.connect() as conn:
        result = await conn.execute(select(outbox).order_by(outbox.c.id))
        return [dict(row) for row in result.mappings()]


async def _claim(
    ingest: Ingest, destination: str, *, now: datetime | None = None, claimer: str = "a"
) -> list[OutboxItem]:
    return await ingest.run(
        partial(
            claim,
            destination=destination,
            now=now or _t0(),
            lease=LEASE,
            limit=10,
            claimer=claimer,
            render=_render,
        )
    )


async def test_milestones_owe_each_subscriber_a_row(ingest: Ingest) -> None:
    """Each milestone reached first gives one row per destination that takes it, in the same
    commit; an earlier time proven later adds none."""
    await ingest.submit(_inbound("1", _order("A1"), _reached("A1", Milestone.EXAM_STARTED, 5)))
    await ingest.submit(_inbound("2", _reached("A1", Milestone.EXAM_STARTED, 3)))
    rows = await _rows(ingest)
    assert [(r["destination"], r["event_type"]) for r in rows] == [
        ("hooks", "milestone"),  # ordered: the webhook takes every milestone
        ("ris", "exam_started"),
        ("hooks", "milestone"),
    ]
    assert all(r["state"] == PENDING and r["sequence_key"] == "order:A1" for r in rows)
    assert orjson.loads(rows[1]["data"])["milestone"] == "exam_started"
    assert len(rows[1]["event_id"]) == 20 and len(rows[0]["event_id"]) == 36
    assert len({r["event_id"] for r in rows}) == 3


async def test_refused_message_owes_nothing(ingest: Ingest) -> None:
    """A message the fold refuses leaves no outbox row, while its batch mates keep theirs."""
    bad = _inbound("bad", _reached("B1", Milestone.CANCELLED, 1), DeviceProbed("NOPE", NOW, LEASE))
    good = _inbound("good", _order("B2"))
    await asyncio.gather(ingest.submit(bad), ingest.submit(good))
    rows = await _rows(ingest)
    assert {orjson.loads(r["data"])["accession"] for r in rows} == {"B2"}


async def test_cancel_and_device_down_reach_the_webhook(ingest: Ingest) -> None:
    """A cancel gives milestone and order_cancelled; a probe's down transition gives device_down."""
    registration = DeviceRegistration(host="ct", port=104, monitored=True)
    await ingest.submit(_inbound("c", _order("C1"), _reached("C1", Milestone.CANCELLED, 1)))
    await ingest.submit(_inbound("d", DeviceRegistered("CT01", registration)))
    probe = DeviceProbed("CT01", NOW, timedelta(minutes=1), ("down", NOW, "timeout"))
    await ingest.submit(_inbound("p", probe))
    types = [(r["event_type"], r["sequence_key"]) for r in await _rows(ingest)]
    assert types == [
        ("milestone", "order:C1"),
        ("milestone", "order:C1"),
        ("order_cancelled", "order:C1"),
        ("device_down", "device:CT01"),
    ]


async def test_claim_takes_one_row_per_key_until_delivered(ingest: Ingest) -> None:
    """A later row of an order waits until the earlier is delivered; a dead letter holds it
    back until retried; bodies are rendered once and kept."""
    await ingest.submit(_inbound("1", _order("D1"), _reached("D1", Milestone.EXAM_STARTED, 1)))
    await ingest.submit(_inbound("2", _reached("D1", Milestone.EXAM_COMPLETED, 9)))
    await ingest.submit(_inbound("3", _order("D2"), _reached("D2", Milestone.EXAM_STARTED, 2)))
    first = await _claim(ingest, "ris")
    assert [i.data["accession"] for i in first] == ["D1", "D2"]
    assert all(i.body is not None for i in first)
    assert await _claim(ingest, "ris") == [], "leased rows are not claimed again"

    d1, d2 = first
    await ingest.run(partial(record, attempts=[Attempt(d1.id, DEAD, NOW, error="AR")], claimer="a"))
    await ingest.run(partial(release, ids=[d2.id], claimer="a"))
    again = await _claim(ingest, "ris")
    assert [i.id for i in again] == [d2.id], "D1's next waits behind its dead letter"
    assert again[0].body == d2.body

    assert await ingest.run(partial(retry_dead, row_id=d1.id, now=_t0())) == DEAD
    (retried,) = await _claim(ingest, "ris")
    assert retried.id == d1.id and retried.event_id == d1.event_id and retried.body == d1.body
    delivered = Attempt(d1.id, DELIVERED, NOW, acknowledged_at=NOW)
    assert await ingest.run(partial(record, attempts=[delivered], claimer="a")) == 1
    (following,) = await _claim(ingest, "ris")
    assert following.event_type == "exam_completed" and following.data["accession"] == "D1"
    assert await ingest.run(partial(retry_dead, row_id=d1.id, now=NOW)) == DELIVERED
    assert await ingest.run(partial(retry_dead, row_id=10**9, now=NOW)) is None


async def test_lease_ends_and_backoff_delays(ingest: Ingest) -> None:
    """A claim left unrecorded is claimable again once its lease ends; a retry waits until
    its next attempt; a record by a claimer that lost the row changes nothing."""
    await ingest.submit(_inbound("1", _order("E1"), _reached("E1", Milestone.EXAM_STARTED, 1)))
    t0 = _t0()
    (item,) = await _claim(ingest, "ris", now=t0, claimer="dead-process")
    (again,) = await _claim(ingest, "ris", now=t0 + LEASE, claimer="b")
    assert again.id == item.id and again.event_id == item.event_id
    late = Attempt(item.id, DELIVERED, NOW, acknowledged_at=NOW)
    assert await ingest.run(partial(record, attempts=[late], claimer="dead-process")) == 0
    retry = Attempt(item.id, PENDING, NOW, error="AE", next_attempt_at=t0 + LEASE * 2)
    assert await ingest.run(partial(record, attempts=[retry], claimer="b")) == 1
    assert await _claim(ingest, "ris", now=t0 + LEASE, claimer="b") == []
    assert len(await _claim(ingest, "ris", now=t0 + LEASE * 2, claimer="b")) == 1


async def test_list_filters_and_pages(ingest: Ingest) -> None:
    """The list filters by state and destination and pages by cursor, newest first."""
    for n in range(3):
        await ingest.submit(_inbound(f"{n}", _order(f"F{n}")))
    async with ingest._engine.connect() as conn:
        page = await list_outbox(conn, state=PENDING, destination="hooks", after=None, limit=2)
        assert [v.data["accession"] for v in page.items] == ["F2", "F1"]
        rest = await list_outbox(
            conn, state=PENDING, destination="hooks", after=page.next_key, limit=2
        )
        assert [v.data["accession"] for v in rest.items] == ["F0"] and rest.next_key is None
        assert (
            await list_outbox(conn, state=DEAD, destination=None, after=None, limit=5)
        ).items == ()


async def test_two_claimers_never_share_a_row(database_url: str, ingest: Ingest) -> None:
    """PostgreSQL: while one transaction holds its claim open, another skips those rows
    (FOR UPDATE SKIP LOCKED) and takes only the rest."""
    if not database_url.startswith("postgresql"):
        pytest.skip("one process per SQLite database")
    for n in range(4):
        await ingest.submit(
            _inbound(f"{n}", _order(f"G{n}"), _reached(f"G{n}", Milestone.EXAM_STARTED, 1))
        )
    engine = create_engine(ingest._engine.url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as one, engine.connect() as two:
            claim_a = partial(
                claim,
                destination="ris",
                now=_t0(),
                lease=LEASE,
                limit=2,
                claimer="a",
                render=_render,
            )
            claim_b = replace_claimer(claim_a, "b", limit=10)
            await one.begin()
            taken_a = await one.run_sync(claim_a)
            await two.begin()
            taken_b = await two.run_sync(claim_b)
            await two.commit()
            await one.commit()
    finally:
        await engine.dispose()
    assert len(taken_a) == 2 and len(taken_b) == 2
    assert {i.id for i in taken_a}.isdisjoint({i.id for i in taken_b})


def replace_claimer(claim_a: partial, claimer: str, *, limit: int) -> partial:
    """The same claim for another process."""
    return partial(claim_a.func, **{**claim_a.keywords, "claimer": claimer, "limit": limit})


async def test_pruning_takes_delivered_rows_only(ingest: Ingest) -> None:
    """Retention deletes delivered rows older than the log's cutoff; pending and dead stay."""
    for n in range(3):
        await ingest.submit(
            _inbound(f"{n}", _order(f"H{n}"), _reached(f"H{n}", Milestone.EXAM_STARTED, 1))
        )
    first, second, third = await _claim(ingest, "ris")
    attempts = [
        Attempt(first.id, DELIVERED, NOW, acknowledged_at=NOW),
        Attempt(second.id, DEAD, NOW, error="AR"),
    ]
    await ingest.run(partial(record, attempts=attempts, claimer="a"))
    cutoffs = Cutoffs(bodies_before=None, rows_before=_t0())
    pruned = await ingest.run(partial(prune_step, cutoffs=cutoffs))
    assert pruned.outbox == 1
    left = {r["id"]: r["state"] for r in await _rows(ingest) if r["destination"] == "ris"}
    assert left == {second.id: DEAD, third.id: PENDING}


async def test_a_figure_over_its_goal_is_announced_once(database_url: str) -> None:
    """A report turnaround past its goal gives one turnaround_over_goal; one within does not."""
    hooks = Route("hooks", WEBHOOK, frozenset({"turnaround_over_goal"}))
    destinations = Destinations((hooks,), {"report_turnaround/CT/*/*": 60.0})
    engine = create_engine(database_url)
    writer = Ingest(engine, timeout=10, destinations=destinations)
    await writer.start()
    try:
        for accession, report_after in (("L1", 100), ("L2", 30)):
            await writer.submit(
                _inbound(
                    accession,
                    _order(accession),
                    _reached(accession, Milestone.EXAM_COMPLETED, 10),
                    _reached(accession, Milestone.FINAL_REPORT, 10 + report_after),
                )
            )
        # An earlier final report proven later moves the figure but announces nothing new.
        await writer.submit(_inbound("again", _reached("L1", Milestone.FINAL_REPORT, 95)))
        rows = await _rows(writer)
    finally:
        await writer.close()
        await engine.dispose()
    assert [(r["event_type"], orjson.loads(r["data"])) for r in rows] == [
        (
            "turnaround_over_goal",
            {
                "accession": "L1",
                "figure": "report_turnaround",
                "minutes": 100.0,
                "goal_minutes": 60.0,
                "open": False,
                "at": "2026-12-07T10:50:00+00:00",
            },
        )
    ]
