"""On both stores: the shared SQL pieces of the read modules agree with Python on the edges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from store.engine import create_engine
from store.reading.sql import at, epoch_seconds


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 7, 23, 59, 59, 999_600, tzinfo=UTC),  # rounds up on SQLite's clock
        datetime(2026, 12, 7, 23, 59, 59, 999_400, tzinfo=UTC),
        datetime(2026, 12, 8, 0, 0, 0, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ],
)
async def test_epoch_seconds_are_floored(database_url: str, moment: datetime) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            seconds = (
                await conn.execute(select(epoch_seconds(conn.dialect.name, at(moment))))
            ).scalar()
    finally:
        await engine.dispose()
    assert seconds == int(moment.timestamp() // 1)
