"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store.engine import create_engine
from store.migrate import migrate, pending_revisions
from store.schema import Base


# SQLite cannot reflect the worklist's expression indexes, so autogenerate skips comparing
# them there (with a warning); tests/store/test_worklist.py checks the plans use them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
async def test_migrations_match_the_models(empty_database_url: str) -> None:
    """After `migrate`, autogenerate finds nothing to change and no revision is pending."""
    engine = create_engine(empty_database_url)
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


async def test_migrate_twice_is_harmless(empty_database_url: str) -> None:
    """Running the migrations on an up-to-date database changes nothing and does not fail."""
    engine = create_engine(empty_database_url)
    try:
        await migrate(engine)
        await migrate(engine)
        assert not await pending_revisions(engine)
    finally:
        await engine.dispose()


async def test_sqlite_is_durable_per_commit(tmp_path) -> None:
    """SQLite runs with WAL and synchronous=FULL, so a committed ACK survives a power cut."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        async with engine.connect() as conn:
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            synchronous = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
            foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    finally:
        await engine.dispose()
    assert (journal, synchronous, foreign_keys) == ("wal", 2, 1)  # 2 = FULL
