"""The writer keeps one connection across its transactions, and replaces a lost one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from fixtures.messages import orm_new_order
from store.commit import WriterConnection
from store.engine import create_engine as create_gateway_engine
from store.ingest import Inbound, Ingest, Outcome
from store.migrate import migrate


def test_transactions_share_one_connection(tmp_path: Path) -> None:
    """Two transactions, one checkout; each commits on its own, and one that raises rolls back."""
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    checkouts: list[Any] = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(args))
    writer = WriterConnection(engine)
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    with writer.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(RuntimeError), writer.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("undo")
    writer.close()
    assert len(checkouts) == 1
    with engine.connect() as other:
        assert other.execute(text("SELECT n FROM t")).scalars().all() == [1]
    engine.dispose()


def test_a_lost_connection_is_replaced(tmp_path: Path) -> None:
    """After the driver's connection is invalidated, the next transaction gets a new one."""
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    writer = WriterConnection(engine)
    with writer.begin() as conn:
        conn.execute(text("SELECT 1"))
    conn.invalidate()
    with writer.begin() as again:
        assert again is not conn
        assert again.execute(text("SELECT 1")).scalar() == 1
    writer.close()
    engine.dispose()


async def test_the_writer_checks_out_once_for_many_batches(tmp_path: Path) -> None:
    """Batch after batch, the SQLite writer thread uses the one connection it checked out."""
    engine = create_gateway_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    await migrate(engine)
    ingest = Ingest(engine, timeout=5)
    checkouts: list[Any] = []
    assert ingest._sqlite is not None
    event.listen(ingest._sqlite, "checkout", lambda *args: checkouts.append(args))
    await ingest.start()
    try:
        for number in range(3):
            raw = orm_new_order(f"HELD{number}", control_id=f"H{number}")
            inbound = Inbound("hl7v2", datetime.now(UTC), "127.0.0.1:1", raw, Outcome.NOT_MAPPED)
            await ingest.submit(inbound)
    finally:
        await ingest.close()
        await engine.dispose()
    assert len(checkouts) == 1
