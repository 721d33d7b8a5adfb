"""The commit feed wakes a live reader when the writer commits, from its thread or the loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from fixtures.messages import orm_new_order
from store.engine import create_engine
from store.ingest import Inbound, Ingest, Outcome
from store.migrate import migrate


async def test_a_commit_wakes_a_waiting_reader(tmp_path: Path) -> None:
    """A reader waiting on the feed wakes after a message is stored, not before; a wait with
    nothing committed ends at its timeout with the generation unchanged."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    await migrate(engine)
    ingest = Ingest(engine, timeout=5)
    await ingest.start()
    try:
        seen = ingest.commits.generation
        assert await ingest.commits.wait(seen, timeout=0.05) == seen
        waiter = asyncio.create_task(ingest.commits.wait(seen, timeout=10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        raw = orm_new_order("FEED1", control_id="F1")
        inbound = Inbound("hl7v2", datetime.now(UTC), "127.0.0.1:1", raw, Outcome.NOT_MAPPED)
        await ingest.submit(inbound)
        assert await asyncio.wait_for(waiter, 5) == seen + 1
    finally:
        await ingest.close()
        await engine.dispose()
