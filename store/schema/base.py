"""The store's column types, constraint names and declarative base, shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    TypeDecorator,
    column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler

# Stable constraint names, so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite makes only INTEGER PRIMARY KEY an auto-incrementing rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite keeps no offset; it is stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times are aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg gives a timestamptz as an aware UTC datetime, except its infinities, which
        # it gives as naive datetime.min and datetime.max: those are made UTC, as
        # process_result_value does. One plain call per value, where SQLAlchemy's wrapper
        # makes three (a board page holds about 900 times).
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return _aware_utc
        return super().result_processor(dialect, coltype)


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class MillisecondsBetween(ColumnElement[int]):
    """Whole milliseconds from one time column of the row to another; NULL when either is."""

    inherit_cache = True
    type = BigInteger()

    def __init__(self, begin: str, end: str) -> None:
        self.begin = column(begin)
        self.end = column(end)


@compiles(MillisecondsBetween)
def _milliseconds_postgresql(
    element: MillisecondsBetween, compiler: SQLCompiler, **kw: object
) -> str:
    # end - begin is an exact interval of microseconds and its epoch an exact numeric, so this
    # rounds (half away from zero) as round((epoch(end) - epoch(begin)) * 1000) does, and,
    # unlike EXTRACT from a timestamptz, it is immutable, as a generated column requires.
    end, begin = compiler.process(element.end, **kw), compiler.process(element.begin, **kw)
    return f"CAST(round(EXTRACT(epoch FROM ({end} - {begin})) * 1000) AS BIGINT)"


@compiles(MillisecondsBetween, "sqlite")
def _milliseconds_sqlite(element: MillisecondsBetween, compiler: SQLCompiler, **kw: object) -> str:
    end, begin = compiler.process(element.end, **kw), compiler.process(element.begin, **kw)
    return f"CAST(round((julianday({end}) - julianday({begin})) * 86400000) AS INTEGER)"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
