"""On both stores: migration 0017 gives the figure rows of a database that revision 0016 holds
their value buckets, and fills the counts per bucket, day and week, as the fold would have."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import Connection

from store import write
from store.engine import create_engine
from store.migrate import _upgrade, alembic_config
from tests.store.readmodels.month import START, month
from tests.store.readmodels.test_read_models import (
    TZ,
    _inbound,
    counted_by_definition,
    kept_counts,
)


def _down_to_0016(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, "0016")


async def test_the_upgrade_fills_buckets_and_counts(empty_database_url: str) -> None:
    """Written at head, taken down to 0016 (no buckets, no counts) and up again: every figure
    row has its bucket back and the counts are those the fold had kept."""
    engine = create_engine(empty_database_url)
    ns = f"k{uuid.uuid4().hex[:5]}"
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, TZ.key)
        sent = month(ns, orders=50)
        for start in range(0, len(sent), 25):
            inbounds = [_inbound(ns, n, sent[n]) for n in range(start, min(start + 25, len(sent)))]
            async with engine.begin() as conn:
                await conn.run_sync(write.write_batch, inbounds, START, tz=TZ)
        async with engine.connect() as conn:
            folded = await conn.run_sync(kept_counts)
        async with engine.begin() as conn:
            await conn.run_sync(_down_to_0016)
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, TZ.key)
        async with engine.connect() as conn:
            backfilled = await conn.run_sync(kept_counts)
            expected = await conn.run_sync(counted_by_definition)
    finally:
        await engine.dispose()
    assert backfilled == folded == expected
    assert len(folded[0]) > 100 and any(n > 1 for n in folded[1].values())
