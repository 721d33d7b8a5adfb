"""Retention: two years of message log pruned in steps through the writer while MLLP ingest
runs; old bodies cleared, old rows deleted, workflow rows kept, and on SQLite the space
returned."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from fixtures.messages import orm_new_order
from gateway.keys import INGEST
from gateway.pruning import prune
from store.retention import Cutoffs, store_bytes
from store.schema import messages, order_timeline, orders
from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient, segments

NOW = datetime.now(UTC)
PER_DAY = 20
DAYS = 730


def _old_rows() -> list[dict]:
    """Two years of message-log rows, PER_DAY a day, each with a 2 KB body."""
    rows = []
    for day in range(1, DAYS + 1):
        for n in range(PER_DAY):
            at = NOW - timedelta(days=day, minutes=n)
            rows.append(
                {
                    "protocol": "hl7v2",
                    "received_at": at,
                    "last_received_at": at,
                    "receive_count": 1,
                    "peer": "10.0.0.1:5000",
                    "sending_application": "RIS",
                    "sending_facility": "HOSP",
                    "control_id": f"OLD-{day}-{n}",
                    "content_sha256": f"{day:04d}{n:04d}".ljust(64, "0"),
                    "message_type": "ORM^O01",
                    "raw": b"MSH|" + b"x" * 2048,
                    "outcome": "applied",
                    "control_id_reused": False,
                }
            )
    return rows


async def _stream(port: int, first: int, count: int, latencies: list[float]) -> None:
    client = await MllpClient.connect("127.0.0.1", port)
    try:
        for number in range(first, first + count):
            started = time.perf_counter()
            message = orm_new_order(f"RT{number:05d}", control_id=f"RT{number}")
            ack = segments(await client.send(message))
            latencies.append(time.perf_counter() - started)
            assert ack["MSA"][1] == "AA", ack
            await asyncio.sleep(0.005)
    finally:
        await client.close()


async def test_two_years_are_pruned_in_steps_while_ingest_runs(gateway: RunningGateway) -> None:
    """Bodies past 90 days cleared, rows past 365 days deleted; a timeline row of a deleted
    message keeps its fact; ingest meanwhile answers AA to everything, none over 100 ms."""
    # A real order, whose message is then made old enough to be deleted: its fact must stay.
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    kept = segments(await client.send(orm_new_order("KEPT1", control_id="KEPT1")))
    assert kept["MSA"][1] == "AA"
    await client.close()
    async with gateway.engine.begin() as conn:
        await conn.execute(insert(messages), _old_rows())
        long_ago = NOW - timedelta(days=400)
        await conn.execute(
            update(messages)
            .where(messages.c.control_id == "KEPT1")
            .values(received_at=long_ago, last_received_at=long_ago)
        )
    # Write the bulk insert out now, not during the measured ACKs: SQLite folds its WAL into
    # the file, PostgreSQL takes a checkpoint (which also restarts its checkpoint timer).
    checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)"
    if gateway.engine.dialect.name == "postgresql":
        checkpoint = "CHECKPOINT"
    async with gateway.engine.connect() as conn:
        await conn.exec_driver_sql(checkpoint)

    before = await _size(gateway)
    latencies: list[float] = []
    port = gateway.mllp_port
    # The gateway shares this process with the whole test session: its heap is frozen for
    # the measurement, as `serve` freezes a gateway's start-up heap, so that a collection of
    # the session's objects is not counted as the gateway's ACK time.
    gc.collect()
    gc.freeze()
    try:
        streams = [asyncio.create_task(_stream(port, n * 1000, 60, latencies)) for n in range(4)]
        cutoffs = Cutoffs.from_days(NOW, 90, 365)
        pruned = await prune(gateway.app[INGEST], cutoffs)
        await asyncio.gather(*streams)
    finally:
        gc.unfreeze()

    ages = [row["received_at"] for row in _old_rows()]
    assert pruned.rows == sum(at < cutoffs.rows_before for at in ages) + 1  # +1: KEPT1's
    assert pruned.bodies == sum(cutoffs.rows_before <= at < cutoffs.bodies_before for at in ages)
    slowest = max(latencies)
    assert len(latencies) == 240 and slowest <= 0.100, (slowest, latencies.index(slowest))
    async with gateway.engine.connect() as conn:
        ages = (
            await conn.execute(
                select(messages.c.received_at, func.length(messages.c.raw)).where(
                    messages.c.control_id.like("OLD-%")
                )
            )
        ).all()
        kept_fact = (
            await conn.execute(
                select(order_timeline.c.message_id, order_timeline.c.milestone)
                .join(orders, orders.c.id == order_timeline.c.order_id)
                .where(orders.c.accession == "KEPT1")
            )
        ).all()
    assert all(NOW - at <= timedelta(days=365) for at, _ in ages)
    assert all(size == 0 for at, size in ages if NOW - at > timedelta(days=90))
    assert all(size > 0 for at, size in ages if NOW - at < timedelta(days=89))
    assert kept_fact == [(None, "ordered")]
    if gateway.engine.dialect.name == "sqlite":  # the space goes back to the file system
        after = await _size(gateway)
        assert after < before * 0.6, (before, after)


async def _size(gateway: RunningGateway) -> int:
    async with gateway.engine.connect() as conn:
        return await conn.run_sync(store_bytes)
