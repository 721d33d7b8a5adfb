"""Group commit: many submitters share transactions; one bad message spoils none of the rest."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from mappers.events import (
    CodedValue,
    OrderDetails,
    OrderPlaced,
    PatientClass,
    PatientId,
    PatientUpserted,
    PersonName,
    Visit,
)
from store import driver
from store.engine import create_engine, create_writer_engine
from store.errors import Rejection, StoreUnavailable
from store.ingest import Inbound, Ingest, Outcome
from store.migrate import migrate
from store.schema import messages, orders, patients
from store.senders import Senders

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _inbound(number: int, *, ordered_at: datetime = NOW) -> Inbound:
    order = OrderPlaced(
        accession=f"ACC{number}",
        patient=PatientId(f"MRN{number % 7}", "HOSP"),
        details=OrderDetails(procedure=CodedValue("71250", "CT CHEST", "CPT4"), modality="CT"),
        ordered_at=ordered_at,
    )
    return Inbound(
        protocol="hl7v2",
        received_at=NOW,
        peer="127.0.0.1:1",
        raw=f"MSH|^~\\&|RIS|H|||{number}".encode(),
        outcome=Outcome.APPLIED,
        events=(order,),
        sending_application="RIS",
        sending_facility="H",
        control_id=f"C{number}",
        ack_code="AA",
    )


def _patient(number: int) -> PatientUpserted:
    name = PersonName("HALVORSEN", "MARTA", "", "", "")
    visit = Visit(PatientClass.OUTPATIENT, "RAD", "")
    return PatientUpserted(PatientId(f"MRN{number % 7}", "HOSP"), name, None, "F", NOW, visit)


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


async def _counts(ingest: Ingest) -> tuple[int, int]:
    async with ingest._engine.connect() as conn:
        return (
            (await conn.execute(select(func.count()).select_from(orders))).scalar_one(),
            (await conn.execute(select(func.count()).select_from(messages))).scalar_one(),
        )


async def test_concurrent_submissions_are_all_stored(ingest: Ingest) -> None:
    """Two hundred concurrent submitters each get their own committed result."""
    results = await asyncio.gather(*(ingest.submit(_inbound(n)) for n in range(200)))
    assert sorted(r.message_id for r in results) == sorted({r.message_id for r in results})
    assert all(r.outcome is Outcome.APPLIED and not r.duplicate for r in results)
    assert await _counts(ingest) == (200, 200)


async def test_a_bad_message_fails_alone_and_is_kept(ingest: Ingest) -> None:
    """A message whose effects cannot be stored is logged as failed; its batch-mates land."""
    naive = datetime(2026, 11, 22, 9, 0)  # the store refuses naive times
    batch = [_inbound(n) for n in range(10)]
    batch[4] = _inbound(4, ordered_at=naive)
    results = await asyncio.gather(*(ingest.submit(item) for item in batch))
    assert [r.outcome for r in results].count(Outcome.FAILED) == 1
    assert results[4].outcome is Outcome.FAILED
    assert await _counts(ingest) == (9, 10)
    async with ingest._engine.connect() as conn:
        failed = (
            (await conn.execute(select(messages).where(messages.c.outcome == "failed")))
            .mappings()
            .one()
        )
    assert failed["control_id"] == "C4"
    assert failed["ack_code"] == "AE"
    assert failed["error"]


async def test_a_failed_message_is_processed_again_when_resent(ingest: Ingest) -> None:
    """A resend of a message that failed is applied afresh, not answered as a duplicate."""
    first = await ingest.submit(replace(_inbound(1), events=(object(),)))  # no rule: fails
    assert first.outcome is Outcome.FAILED
    second = await ingest.submit(_inbound(1))
    assert (second.outcome, second.duplicate) == (Outcome.APPLIED, False)
    assert second.message_id == first.message_id
    assert await _counts(ingest) == (1, 1)


async def test_a_duplicate_of_an_accepted_message_changes_nothing(ingest: Ingest) -> None:
    """The same message twice: one row with a receive count of two, one order."""
    first = await ingest.submit(_inbound(1))
    second = await ingest.submit(_inbound(1))
    assert second.duplicate and second.message_id == first.message_id
    assert await _counts(ingest) == (1, 1)


async def test_submit_after_close_is_refused(ingest: Ingest) -> None:
    """Once closed, the store claims nothing: StoreUnavailable."""
    await ingest.close()
    with pytest.raises(StoreUnavailable):
        await ingest.submit(_inbound(1))


async def test_a_reused_control_id_is_flagged_within_one_batch(ingest: Ingest) -> None:
    """Two messages with one control id but other content, in the same transaction: both are
    applied, and the later one is flagged (the engine reset its counter)."""
    first = _inbound(1)
    other = replace(_inbound(2), control_id=first.control_id)
    results = await asyncio.gather(ingest.submit(first), ingest.submit(other))
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    assert [r.control_id_reused for r in results] == [False, True]
    async with ingest._engine.connect() as conn:
        flags = (
            (await conn.execute(select(messages.c.control_id_reused).order_by(messages.c.id)))
            .scalars()
            .all()
        )
    assert flags == [False, True]


async def test_the_same_message_twice_in_one_batch_is_stored_once(ingest: Ingest) -> None:
    """A resend racing its original on another connection: one row counted twice, one order."""
    results = await asyncio.gather(ingest.submit(_inbound(1)), ingest.submit(_inbound(1)))
    assert [r.duplicate for r in results] == [False, True]
    assert results[0].message_id == results[1].message_id
    assert await _counts(ingest) == (1, 1)
    async with ingest._engine.connect() as conn:
        count = (await conn.execute(select(messages.c.receive_count))).scalar_one()
    assert count == 2


def test_the_sqlite_writer_holds_the_write_lock_from_begin(tmp_path: Path) -> None:
    """The ingest writer's transactions begin IMMEDIATE: no other connection can write while
    one is open, even before it wrote anything, so it never fails half-way on a stale read."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    writer = create_writer_engine(url, busy_timeout=0.0)
    assert writer is not None
    other = sqlite3.connect(tmp_path / "gateway.db", timeout=0.0, isolation_level=None)
    try:
        with writer.begin() as conn:
            conn.execute(text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("CREATE TABLE t (x)")
        other.execute("CREATE TABLE t (x)")  # free again once the writer committed
    finally:
        other.close()
        writer.dispose()


def test_only_a_sqlite_file_gets_a_writer_thread_engine() -> None:
    """PostgreSQL runs its batches through run_sync; an in-memory SQLite database cannot be
    shared with a second connection."""
    assert create_writer_engine("postgresql+asyncpg://u@127.0.0.1/db") is None
    assert create_writer_engine("sqlite+aiosqlite:///:memory:") is None


async def test_a_value_the_database_refuses_is_a_rejection_and_still_logged(
    ingest: Ingest, database_url: str
) -> None:
    """Past the mappers' own checks: PostgreSQL refusing a value (SQLSTATE 22) makes the
    message rejected, never failed (a resend cannot cure it), and it stays in the log, by its
    raw bytes alone when even its header values do not fit; the other messages commit."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite keeps values of any length: only PostgreSQL refuses them")
    too_long = replace(_inbound(1), events=(replace(_inbound(1).events[0], accession="A" * 80),))
    header_too_long = replace(_inbound(2), control_id="C" * 300, events=())
    results = await asyncio.gather(
        ingest.submit(too_long), ingest.submit(header_too_long), ingest.submit(_inbound(3))
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.REJECTED, Outcome.APPLIED]
    assert results[0].rejection is results[1].rejection is Rejection.UNSTORABLE_VALUE
    async with ingest._engine.connect() as conn:
        logged = (await conn.execute(select(messages.c.raw, messages.c.control_id))).all()
        kept = (await conn.execute(select(orders.c.accession))).scalars().all()
    assert sorted(raw for raw, _ in logged) == sorted(
        i.raw for i in (too_long, header_too_long, _inbound(3))
    )
    assert (None in [control for _, control in logged], kept) == (True, ["ACC3"])


def _from(peers: list[str]) -> list[Inbound]:
    return [replace(_inbound(n), peer=peer) for n, peer in enumerate(peers)]


def test_a_batch_expects_the_senders_of_the_last_two() -> None:
    """Two alternating cohorts are expected together; a lone sender expects no one else."""
    senders = Senders()
    assert senders.expected() == 0
    senders.saw(_from(["a:1"]))
    senders.saw(_from(["a:1"]))
    assert senders.expected() == 1  # a lone sender: the writer never waits for it
    senders.saw(_from(["a:1", "b:2"]))
    senders.saw(_from(["c:3", "d:4"]))
    assert senders.expected() == 4
    senders.saw(_from(["c:3"]))
    assert senders.expected() == 2
    senders.saw(_from(["c:3"]))
    assert senders.expected() == 1  # a sender that went quiet is forgotten after two batches


async def test_senders_in_two_cohorts_are_merged_into_one_batch(database_url: str) -> None:
    """Sixteen closed-loop senders: after the first rounds, every batch holds all sixteen."""
    engine = create_engine(database_url)
    await migrate(engine)
    sizes: list[int] = []
    # A linger far longer than a resubmission takes, so the outcome does not hang on timing.
    writer = Ingest(engine, timeout=10, linger=1.0, on_batch=sizes.append)
    await writer.start()

    async def sender(number: int) -> None:
        for round_ in range(6):
            await asyncio.sleep(0.002 * (number % 4))  # a client's turnaround, some slower
            inbound = replace(_inbound(number * 100 + round_), peer=f"10.0.0.{number}:2575")
            assert (await writer.submit(inbound)).outcome is Outcome.APPLIED

    try:
        await asyncio.gather(*(sender(n) for n in range(16)))
    finally:
        await writer.close()
        await engine.dispose()
    assert sum(sizes) == 96
    # The senders start 0, 2, 4 and 6 ms late, so the first batches may catch only the
    # quicker ones (a quick writer takes one more delay class a batch), and the last batch
    # only those left (the quick ones are a round ahead and done first). Once a batch holds
    # all sixteen, every batch until the last does.
    first_full = sizes.index(16) if 16 in sizes else len(sizes)
    assert first_full <= 3, sizes
    assert sizes[first_full:-1] and all(size == 16 for size in sizes[first_full:-1]), sizes


async def test_the_writer_keeps_one_connection_from_batch_to_batch(ingest: Ingest) -> None:
    """Batch after batch (and work between them) run on one connection, checked out once."""
    writer_engine = ingest._sqlite or (ingest._postgres or ingest._engine).sync_engine
    checkouts: list[object] = []
    event.listen(writer_engine, "checkout", lambda *_: checkouts.append(1))
    for n in range(5):
        await ingest.submit(_inbound(n))
        await ingest.run(lambda conn: conn.execute(text("SELECT 1")).scalar_one())
    assert len(checkouts) <= 1
    assert await _counts(ingest) == (5, 5)


async def test_a_rehearsal_leaves_nothing_and_warms_the_writer(ingest: Ingest) -> None:
    """The rehearsal's orders are rolled back; the first real batch compiles nothing anew."""
    driver._RENDERED.clear()
    await ingest.rehearse()
    assert await _counts(ingest) == (0, 0)
    async with ingest._engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(patients))).scalar_one() == 0
    rendered = set(driver._RENDERED)
    first = replace(_inbound(1), events=(_patient(1), *_inbound(1).events))
    assert (await ingest.submit(first)).outcome is Outcome.APPLIED
    assert set(driver._RENDERED) <= rendered
    assert await _counts(ingest) == (1, 1)
