"""Bring the schema to the newest Alembic revision."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Several gateway processes may start together on one PostgreSQL; one migrates at a time.
MIGRATION_LOCK_KEY = 0x1A6E_6177  # an arbitrary constant, the same in every process
INCREMENTAL_VACUUM = 2  # PRAGMA auto_vacuum: 0 none, 1 full, 2 incremental


def alembic_config() -> Config:
    """The Alembic configuration, pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "store:migrations")
    return config


async def migrate(engine: AsyncEngine, tz: str = "UTC") -> None:
    """Upgrade the database to head in one transaction; on SQLite, make freed pages
    returnable (incremental auto-vacuum), once. `tz` is the facility time zone, which the
    read models' backfill needs (their days and hours are the facility's)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade, tz)
    if engine.dialect.name == "sqlite":
        await _incremental_vacuum_mode(engine)


async def _incremental_vacuum_mode(engine: AsyncEngine) -> None:
    """Switch an SQLite file to incremental auto-vacuum, so that pruning the message log gives
    its space back (`PRAGMA incremental_vacuum`) without a full VACUUM each time. The switch
    itself takes one VACUUM, once, outside any transaction: on a plain sqlite3 connection of
    its own, in a worker thread."""
    database = engine.url.database
    if database and database != ":memory:":
        await asyncio.to_thread(_switch_to_incremental, database)


def _switch_to_incremental(database: str) -> None:
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL_VACUUM:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")


async def pending_revisions(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest revision."""
    async with engine.connect() as conn:
        current = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return current != ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection, tz: str = "UTC") -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["facility_tz"] = tz
    command.upgrade(config, "head")
