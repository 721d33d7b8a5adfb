"""The exam lifecycle in the store: the same final state whatever order messages arrive in."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mappers.events import (
    AppointmentCancelled,
    CodedValue,
    Event,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientId,
    PatientNoShow,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    ProcedureScheduled,
    Provider,
    ReportIssued,
    ReportStatus,
)
from store.engine import create_engine
from store.ingest import Ingest, Outcome
from store.migrate import migrate
from store.schema import order_timeline, orders, patients, reports
from tests.support.applied import applied_message

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PATIENT = PatientId("LC-MRN-1", "GENERAL_HOSP")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def ingest(database_url: str) -> AsyncIterator[Ingest]:
    """A started Ingest on a migrated database."""
    engine = create_engine(database_url)
    await migrate(engine)
    writer = Ingest(engine, timeout=10)
    await writer.start()
    yield writer
    await writer.close()
    await engine.dispose()


async def send(ingest: Ingest, *events: Event) -> None:
    """Store the events as one message of their own, as the listener would."""
    stored = await ingest.submit(applied_message(events, received_at=T0))
    assert stored.outcome is Outcome.APPLIED


def lifecycle(accession: str, patient: PatientId = PATIENT) -> list[list[Event]]:
    """One exam from order to final report, one list of events per message."""
    details = OrderDetails(
        procedure=CodedValue("71250", "CT CHEST", "CPT4"), modality="CT", priority="S"
    )
    person = PatientUpserted(patient, PersonName("DOE", "JANE"), None, "F", at(-30))
    return [
        [person],
        [person, OrderPlaced(accession, patient, details, at(0))],
        [ProcedureScheduled(accession, at(30), 20, "CT_ROOM_1", at(5), patient)],
        [PatientArrived(patient, at(25))],
        [MilestoneReached(accession, Milestone.EXAM_STARTED, at(32))],
        [MilestoneReached(accession, Milestone.EXAM_COMPLETED, at(47))],
        [ReportIssued(accession, ReportStatus.PRELIMINARY, "prelim", Provider("R1"), at(70))],
        [ReportIssued(accession, ReportStatus.FINAL, "final", Provider("R1"), at(100))],
    ]


async def final_state(ingest: Ingest, accession: str) -> tuple[dict, list, int]:
    """The order's row (ids and stamps aside), its timeline (milestone, time), report count."""
    async with ingest._engine.connect() as conn:
        row = dict(
            (await conn.execute(select(orders).where(orders.c.accession == accession)))
            .mappings()
            .one()
        )
        timeline = (
            await conn.execute(
                select(order_timeline.c.milestone, order_timeline.c.occurred_at)
                .where(order_timeline.c.order_id == row["id"])
                .order_by(order_timeline.c.occurred_at, order_timeline.c.milestone)
            )
        ).all()
        report_count = len(
            (await conn.execute(select(reports).where(reports.c.order_id == row["id"]))).all()
        )
    for volatile in ("id", "accession", "created_at", "updated_at", "study_instance_uid"):
        row.pop(volatile)
    return row, [tuple(entry) for entry in timeline], report_count


async def test_a_lifecycle_in_order_reaches_every_milestone(ingest: Ingest) -> None:
    """In order: every milestone at its message's time, status final_report, one row each."""
    for message in lifecycle("LC1"):
        await send(ingest, *message)
    row, timeline, report_count = await final_state(ingest, "LC1")
    assert row["status"] == "final_report"
    assert [m for m, _ in timeline] == [
        "ordered",
        "scheduled",
        "arrived",
        "exam_started",
        "exam_completed",
        "preliminary_report",
        "final_report",
    ]
    assert (row["ordered_at"], row["scheduled_at"], row["arrived_at"]) == (at(0), at(5), at(25))
    assert (row["exam_started_at"], row["exam_completed_at"]) == (at(32), at(47))
    assert (row["preliminary_report_at"], row["final_report_at"]) == (at(70), at(100))
    assert (row["scheduled_start"], row["scheduled_resource"]) == (at(30), "CT_ROOM_1")
    assert report_count == 2


async def test_shuffled_lifecycles_end_in_the_same_state(ingest: Ingest) -> None:
    """Ten random arrival orders give exactly the in-order row and timeline."""
    for message in lifecycle("REF"):
        await send(ingest, *message)
    expected = await final_state(ingest, "REF")
    shuffler = random.Random(20261122)
    for run in range(10):
        accession = f"SHUF{run}"
        messages = lifecycle(accession, PatientId(f"P{run}", "GENERAL_HOSP"))
        shuffler.shuffle(messages)
        for message in messages:
            await send(ingest, *message)
        row, timeline, report_count = await final_state(ingest, accession)
        reference_row = {**expected[0], "patient_id": row["patient_id"]}
        assert (row, timeline, report_count) == (reference_row, expected[1], expected[2]), run


async def test_a_cancel_before_its_order_is_kept_and_wins(ingest: Ingest) -> None:
    """A cancel that arrives first makes a placeholder; the order then arrives cancelled."""
    cancel, order = (
        MilestoneReached("C1", Milestone.CANCELLED, at(10), "duplicate order"),
        lifecycle("C1")[1],
    )
    await send(ingest, cancel)
    await send(ingest, *order)
    row, timeline, _ = await final_state(ingest, "C1")
    assert row["status"] == "cancelled"
    assert (row["ordered_at"], row["cancelled_at"]) == (at(0), at(10))
    assert row["procedure_code"] == "71250" and row["patient_id"] is not None
    assert [m for m, _ in timeline] == ["ordered", "cancelled"]


async def test_an_older_change_does_not_overwrite_newer_details(ingest: Ingest) -> None:
    """XO at 09:00 then a late XO from 08:30: the 09:00 details stay."""
    await send(ingest, *lifecycle("X1")[1])
    newer = OrderDetails(procedure=CodedValue("71260", "CT CHEST W", "CPT4"), modality="CT")
    older = OrderDetails(procedure=CodedValue("71270", "CT CHEST WWO", "CPT4"), modality="CT")
    await send(ingest, OrderChanged("X1", PATIENT, newer, at(60)))
    await send(ingest, OrderChanged("X1", PATIENT, older, at(30)))
    row, _, _ = await final_state(ingest, "X1")
    assert row["procedure_code"] == "71260"


async def test_appointment_cancel_and_no_show(ingest: Ingest) -> None:
    """S15 clears the appointment (a late older S12 does not restore it); S26 marks a no-show."""
    await send(ingest, *lifecycle("A1")[1])
    await send(ingest, AppointmentCancelled("A1", at(20), "patient request"))
    await send(ingest, ProcedureScheduled("A1", at(30), 20, "CT_ROOM_1", at(5)))
    await send(ingest, PatientNoShow("A1", at(40)))
    row, _, _ = await final_state(ingest, "A1")
    assert (row["scheduled_start"], row["scheduled_resource"]) == (None, "")
    assert row["scheduled_at"] == at(5)  # it was scheduled, once
    assert row["no_show_at"] == at(40)
    assert row["status"] == "scheduled"


async def test_a_merge_moves_orders_and_the_old_identifier_still_resolves(ingest: Ingest) -> None:
    """A40: the merged patient's orders move to the survivor, and later messages follow."""
    old, survivor = PatientId("OLD-1", "GENERAL_HOSP"), PatientId("NEW-1", "GENERAL_HOSP")
    await send(ingest, *lifecycle("M1", old)[1])
    await send(ingest, PatientsMerged(survivor, old, at(60)))
    await send(ingest, *lifecycle("M2", old)[1])  # sent later under the old identifier
    async with ingest._engine.connect() as conn:
        survivor_id = (
            await conn.execute(select(patients.c.id).where(patients.c.identifier == "NEW-1"))
        ).scalar_one()
        owners = (
            await conn.execute(
                select(orders.c.accession, orders.c.patient_id).order_by(orders.c.accession)
            )
        ).all()
    assert owners == [("M1", survivor_id), ("M2", survivor_id)]


async def test_an_arrival_applies_to_orders_placed_after_it(ingest: Ingest) -> None:
    """A10 before the order: the order gets `arrived` at the A10 time, credited to the A10."""
    await send(ingest, PatientArrived(PATIENT, at(-5)))
    await send(ingest, *lifecycle("R1")[1])
    row, timeline, _ = await final_state(ingest, "R1")
    assert row["arrived_at"] == at(-5)
    assert ("arrived", at(-5)) in timeline
