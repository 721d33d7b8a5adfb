"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


def upsert(dialect_name: str, table: Table) -> PgInsert | SqliteInsert:
    """An INSERT that takes `.on_conflict_do_update()`: the same API on both databases.

    Uniqueness is kept by constraints, never by a check-then-insert, so that several gateway
    processes can share one PostgreSQL (DESIGN.md, "Store and scale").
    """
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect_name!r}")
