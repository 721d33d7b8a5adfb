"""Nothing acknowledged is lost: kill -9 the gateway mid-stream, restart, count."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from fixtures.messages import orm_new_order
from store.engine import create_engine
from store.schema import messages, orders
from tests.support.gateway_process import gateway_process
from tests.support.mllp_client import MllpClient, segments

ORDERS = 500
CONNECTIONS = 5
KILL_AFTER_ACKS = 150


def _order(number: int) -> bytes:
    return orm_new_order(
        f"CRASH{number:04d}", control_id=f"CTRL{number:04d}", patient_id=f"MRN{number % 37:04d}"
    )


async def _stream(
    port: int, numbers: list[int], acked: set[int], enough: asyncio.Event | None = None
) -> None:
    """Send orders one at a time on one connection, noting each AA, until the peer dies;
    set `enough` once KILL_AFTER_ACKS orders are acknowledged."""
    try:
        client = await MllpClient.connect("127.0.0.1", port)
    except OSError:
        return
    try:
        for number in numbers:
            ack = segments(await client.send(_order(number), timeout=30))
            assert ack["MSA"][1] == "AA", ack
            acked.add(number)
            if enough is not None and len(acked) >= KILL_AFTER_ACKS:
                enough.set()
    except (OSError, asyncio.IncompleteReadError):
        return  # the gateway was killed under us
    finally:
        client.writer.transport.abort()


async def test_every_acknowledged_order_survives_kill_9(database_url: str, tmp_path: Path) -> None:
    """Orders AA'd before a SIGKILL are all stored; resending everything makes exactly 500."""
    acked: set[int] = set()
    shares = [list(range(i, ORDERS, CONNECTIONS)) for i in range(CONNECTIONS)]

    async with gateway_process(database_url, tmp_path) as (port, process):
        enough = asyncio.Event()
        streams = [asyncio.create_task(_stream(port, s, acked, enough)) for s in shares]
        await asyncio.wait_for(enough.wait(), 60)
        process.kill()  # SIGKILL: no shutdown, no flush
        await process.wait()
        await asyncio.gather(*streams)
    assert KILL_AFTER_ACKS <= len(acked) < ORDERS, "the kill must land mid-stream"

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            stored = set((await conn.execute(select(orders.c.accession))).scalars())
        missing = {f"CRASH{n:04d}" for n in acked} - stored
        assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"

        async with gateway_process(database_url, tmp_path) as (port, _process):
            resent: set[int] = set()
            await asyncio.gather(*(_stream(port, share, resent) for share in shares))
            assert resent == set(range(ORDERS))

        async with engine.connect() as conn:
            accessions = (await conn.execute(select(orders.c.accession))).scalars().all()
            logged = (
                await conn.execute(
                    select(messages.c.control_id, func.count()).group_by(messages.c.control_id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(accessions) == len(set(accessions)) == ORDERS
    assert len(logged) == ORDERS and all(count == 1 for _, count in logged)
