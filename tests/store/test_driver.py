"""The writer's DBAPI path binds values exactly as SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.dialects import postgresql, sqlite

from store.driver import _bind_processor, sqlite_utc_text
from store.engine import create_engine
from store.schema.base import UtcDateTime

TIMES = [
    datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 22, 9, 0, 1, 5, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 120000, tzinfo=ZoneInfo("Europe/Oslo")),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC")),
]


@pytest.mark.parametrize("value", TIMES, ids=str)
def test_sqlite_times_are_the_text_sqlalchemy_writes(value: datetime) -> None:
    """An aware time becomes the same UTC text as SQLAlchemy's own UtcDateTime processor."""
    dialect = sqlite.dialect()
    theirs = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert theirs is not None
    assert sqlite_utc_text(value) == theirs(value)


def test_sqlite_refuses_a_naive_time_as_sqlalchemy_does() -> None:
    """A naive time is refused, with the store's own message."""
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_utc_text(datetime(2026, 11, 22, 9, 0))


def test_only_sqlite_utc_times_take_the_short_path() -> None:
    """Other dialects keep SQLAlchemy's processors."""
    assert _bind_processor(UtcDateTime(), sqlite.dialect()) is sqlite_utc_text
    assert _bind_processor(UtcDateTime(), postgresql.dialect()) is not sqlite_utc_text


@pytest.mark.parametrize("value", TIMES, ids=str)
async def test_times_read_back_are_the_same_instant_in_utc(
    database_url: str, value: datetime
) -> None:
    """Whatever the session's time zone, a stored time comes back aware, in UTC, the same
    instant to the microsecond, the calendar's first and last included (asyncpg reads those
    as its infinities)."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET LOCAL TIME ZONE 'America/St_Johns'"))
            read = await conn.scalar(select(literal(value, UtcDateTime())))
    finally:
        await engine.dispose()
    assert read == value.astimezone(UTC)
    assert read.utcoffset() == timedelta(0)
    assert read.tzinfo is UTC
