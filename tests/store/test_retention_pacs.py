"""On both stores: retention takes the PACS reconciler's old outcomes with the message log's
rows of their age, and always keeps the newest, which is the PACS's state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mappers.events import PacsReconciled
from store.engine import create_engine
from store.ingest import Ingest
from store.operations import record_pacs_reconciliation
from store.retention import Cutoffs, prune_step
from store.schema import pacs_checks

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    yield made
    await made.dispose()


@pytest.fixture
async def ingest(engine: AsyncEngine) -> AsyncIterator[Ingest]:
    writer = Ingest(engine, timeout=10)
    await writer.start()
    yield writer
    await writer.close()


async def _checked(engine: AsyncEngine) -> list[datetime]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(pacs_checks.c.checked_at).order_by(pacs_checks.c.id))
        return [at if at.tzinfo else at.replace(tzinfo=UTC) for at in rows.scalars()]


async def _reconciled(ingest: Ingest, *days: int) -> None:
    for day in days:
        at = T0 + timedelta(days=day)
        await record_pacs_reconciliation(
            ingest, PacsReconciled(at, date(2026, 1, 1), at.date(), reachable=day % 2 == 0)
        )


async def test_old_outcomes_go_and_the_newest_stays(ingest: Ingest, engine: AsyncEngine) -> None:
    await _reconciled(ingest, 0, 1, 2, 3)
    cutoffs = Cutoffs(bodies_before=None, rows_before=T0 + timedelta(days=2))
    pruned = await ingest.run(partial(prune_step, cutoffs=cutoffs))
    assert pruned.pacs_checks == 2
    assert await _checked(engine) == [T0 + timedelta(days=2), T0 + timedelta(days=3)]


async def test_the_newest_outcome_stays_however_old(ingest: Ingest, engine: AsyncEngine) -> None:
    await _reconciled(ingest, 0, 1)
    cutoffs = Cutoffs(bodies_before=None, rows_before=T0 + timedelta(days=30))
    pruned = await ingest.run(partial(prune_step, cutoffs=cutoffs, limit=1))
    again = await ingest.run(partial(prune_step, cutoffs=cutoffs))
    assert (pruned.pacs_checks, again.pacs_checks, again.anything) == (1, 0, False)
    assert await _checked(engine) == [T0 + timedelta(days=1)]
