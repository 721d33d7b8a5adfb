"""On both stores: migration 0014 backfills the read models of a database that revision 0013
built and filled, in the facility time zone it is given."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import Connection

from store import write
from store.engine import create_engine
from store.migrate import _upgrade, alembic_config
from store.rebuild import rebuild_read_models
from tests.store.readmodels.month import START, month
from tests.store.readmodels.test_read_models import TZ, _inbound, recomputed, stored


def _down_to_0013(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, "0013")


async def test_backfill_fills_the_read_models_of_an_existing_database(
    empty_database_url: str,
) -> None:
    """Orders stored before 0014 get their figure, board and volume rows from the upgrade.

    Today's writer writes today's schema: the month is written at head, then the database is
    taken down to 0013 (which drops the read models and every later column) and up again.
    """
    engine = create_engine(empty_database_url)
    ns = f"u{uuid.uuid4().hex[:5]}"
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
        sent = month(ns)
        for start in range(0, len(sent), 25):
            inbounds = [_inbound(ns, n, sent[n]) for n in range(start, min(start + 25, len(sent)))]
            async with engine.begin() as conn:
                await conn.run_sync(write.write_batch, inbounds, START)
        async with engine.begin() as conn:
            await conn.run_sync(_down_to_0013)
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, TZ.key)
        async with engine.connect() as conn:
            filled = await conn.run_sync(stored, ns)
            expected = await conn.run_sync(recomputed, ns)
    finally:
        await engine.dispose()
    assert filled == expected
    assert filled["figures"] and filled["board"] and filled["volumes"]


async def test_rebuild_of_an_empty_store_writes_nothing(database_url: str) -> None:
    """A rebuild with no orders leaves every read model empty and says so."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            rebuilt = await conn.run_sync(rebuild_read_models, TZ)
    finally:
        await engine.dispose()
    assert (rebuilt.figures, rebuilt.board, rebuilt.volume_hours) == (0, 0, 0)
