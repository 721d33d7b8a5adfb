"""Bring the schema to the newest Alembic revision."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Several gateway processes may start together on one PostgreSQL; one migrates at a time.
MIGRATION_LOCK_KEY = 0x1A6E_6177  # an arbitrary constant, the same in every process


def alembic_config() -> Config:
    """The Alembic configuration, pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "store:migrations")
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to head in one transaction."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade)


async def pending_revisions(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest revision."""
    async with engine.connect() as conn:
        current = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return current != ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
