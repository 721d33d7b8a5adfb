"""The writer's other duties: the commit feed that wakes live readers, and store work (pruning,
audit records) run between batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

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


async def test_a_thread_submission_wakes_the_loop_only_for_a_waiting_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message stored from another thread (a DICOM handler's) moves the generation on
    without a hop to the event loop while nobody waits, and wakes a reader that does."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    await migrate(engine)
    ingest = Ingest(engine, timeout=5)
    await ingest.start()
    loop = asyncio.get_running_loop()
    hops: list[object] = []
    original = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(callback)
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)

    def stored_from_a_thread(control_id: str) -> None:
        raw = orm_new_order(control_id, control_id=control_id)
        inbound = Inbound("hl7v2", datetime.now(UTC), "127.0.0.1:1", raw, Outcome.NOT_MAPPED)
        ingest.submit_threadsafe(inbound).result(5)

    owners = (ingest, ingest.commits)
    try:
        seen = ingest.commits.generation
        await asyncio.to_thread(stored_from_a_thread, "T1")
        assert ingest.commits.generation == seen + 1
        # The writer's own hops (asyncio.to_thread makes one of its own).
        assert [hop for hop in hops if getattr(hop, "__self__", None) in owners] == []
        waiter = asyncio.create_task(ingest.commits.wait(seen + 1, timeout=10))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(stored_from_a_thread, "T2")
        assert await asyncio.wait_for(waiter, 5) == seen + 2
    finally:
        await ingest.close()
        await engine.dispose()


async def test_work_runs_on_the_writer_between_batches(database_url: str) -> None:
    """`Ingest.run` executes store work in a transaction of the writer's and returns its
    result; an error in it reaches the caller and rolls its transaction back."""
    engine = create_engine(database_url)
    ingest = Ingest(engine, timeout=5)
    await ingest.start()
    try:
        count = await ingest.run(
            lambda conn: conn.execute(text("SELECT count(*) FROM orders")).scalar()
        )
        assert count == 0

        def half_done(conn: Connection) -> None:
            conn.execute(text("UPDATE alembic_version SET version_num = 'broken'"))
            raise RuntimeError("stop here")

        with pytest.raises(RuntimeError, match="stop here"):
            await ingest.run(half_done)
        version = await ingest.run(
            lambda conn: conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        )
        assert version != "broken"
    finally:
        await ingest.close()
        await engine.dispose()
