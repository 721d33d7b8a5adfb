"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store.engine import create_engine
from store.migrate import migrate, pending_revisions
from store.schema import Base


async def test_migrations_match_the_models(database_url: str) -> None:
    """After `migrate`, autogenerate finds nothing to change and no revision is pending."""
    engine = create_engine(database_url)
    try:
        assert await pending_revisions(engine)
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == []
        assert not await pending_revisions(engine)
    finally:
        await engine.dispose()


async def test_migrate_twice_is_harmless(database_url: str) -> None:
    """Running the migrations on an up-to-date database changes nothing and does not fail."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)
        assert not await pending_revisions(engine)
    finally:
        await engine.dispose()
