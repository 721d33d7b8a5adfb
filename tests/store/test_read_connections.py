"""Reads of several statements see one state of the store; a read of one statement needs no
transaction block of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import create_engine, single_statement_read, snapshot_read
from store.schema import patients

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def _add_patient(engine: AsyncEngine, identifier: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(patients),
            {"identifier": identifier, "authority": "H", "created_at": NOW, "updated_at": NOW},
        )


async def test_a_snapshot_read_does_not_see_commits_made_during_it(database_url: str) -> None:
    """A patient committed between a read's two statements is not in its second one."""
    engine = create_engine(database_url)
    count = select(func.count()).select_from(patients)
    try:
        await _add_patient(engine, "P1")
        async with snapshot_read(engine) as conn:
            first = (await conn.execute(count)).scalar_one()
            await _add_patient(engine, "P2")
            second = (await conn.execute(count)).scalar_one()
        async with snapshot_read(engine) as conn:
            after = (await conn.execute(count)).scalar_one()
    finally:
        await engine.dispose()
    assert (first, second, after) == (1, 1, 2)


async def test_a_single_statement_read_opens_no_transaction_on_postgresql(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await _add_patient(engine, "P1")
        async with single_statement_read(engine) as conn:
            assert (await conn.execute(select(func.count()).select_from(patients))).scalar() == 1
            raw = await conn.get_raw_connection()
            if engine.dialect.name == "postgresql":
                assert not raw.driver_connection.is_in_transaction()  # type: ignore[union-attr]
    finally:
        await engine.dispose()
