"""The database engine, SQLite (aiosqlite) or PostgreSQL (asyncpg), chosen by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def create_engine(url: str, *, busy_timeout: float = 5.0) -> AsyncEngine:
    """Make the engine for `url`; for SQLite, create the file's folder and set durable pragmas.

    SQLite runs in WAL mode with synchronous=FULL so that a committed transaction, and so an
    ACK, survives a power cut (https://www.sqlite.org/pragma.html#pragma_synchronous).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout)
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        connect_args={
            "timeout": busy_timeout,
            "command_timeout": busy_timeout * 6,
            # PostgreSQL's JIT compiles queries it guesses are costly; for the gateway's short
            # indexed queries the compile (0.5-1.3 s measured) dwarfs the work.
            "server_settings": {"jit": "off"},
            # The writer's multi-row statements differ in text by their row count; with the
            # default 100 they pushed each other out and were prepared anew every batch.
            "prepared_statement_cache_size": 1000,
        },
    )


def single_statement_read(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection for a read that is one statement, and so one snapshot of its own.

    On PostgreSQL it runs outside a transaction block: BEGIN and ROLLBACK would each cost a
    round trip to the server, as much as the statement itself for a small read. SQLite reads
    begin as ever (its connections emit BEGIN themselves, see `_durable_sqlite`).
    """
    return _read(engine, postgres_isolation="AUTOCOMMIT")


def snapshot_read(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection for a read of several statements that must see one state of the store.

    On PostgreSQL its transaction is REPEATABLE READ: under the default READ COMMITTED each
    statement would see the commits made since the one before (a turnaround read counts the
    values, then reads those at the ranks it counted). A SQLite read transaction keeps its
    snapshot from its first read to its end already (WAL mode).
    """
    return _read(engine, postgres_isolation="REPEATABLE READ")


@asynccontextmanager
async def _read(engine: AsyncEngine, *, postgres_isolation: str) -> AsyncIterator[AsyncConnection]:
    """A read connection; on PostgreSQL with `postgres_isolation`, on SQLite as it comes."""
    async with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            yield conn
            return
        yield await conn.execution_options(isolation_level=postgres_isolation)


def create_postgres_writer_engine(url: str, *, busy_timeout: float = 5.0) -> AsyncEngine:
    """The ingest writer's own PostgreSQL engine: one connection, plans made once.

    The writer runs the same few statements batch after batch; planning them anew each time
    (custom plans, 1 ms and more apiece here) cost more than running them. Its lookups are by
    unique keys, so a generic plan is the right plan, and an index lookup the right access:
    a generic plan knows neither how many keys an array holds nor, when it was made on a
    young database, how large the table will grow, and with sequential scans allowed it chose
    them for tables of thousands of rows (store/plans.py has the rest).
    """
    return create_async_engine(
        url,
        pool_size=1,
        max_overflow=1,
        connect_args={
            "timeout": busy_timeout,
            "command_timeout": busy_timeout * 6,
            "server_settings": {
                "jit": "off",
                "plan_cache_mode": "force_generic_plan",
                "enable_seqscan": "off",
            },
            "prepared_statement_cache_size": 1000,
        },
    )


def create_writer_engine(url: str, *, busy_timeout: float = 5.0) -> Engine | None:
    """A synchronous engine on the same SQLite file, for the ingest writer's own thread.

    Through aiosqlite every statement is a hop to its thread and back (about 0.3 ms); the
    writer instead runs a whole batch in one call on the stdlib driver. Its transactions begin
    IMMEDIATE: a writer that first read and then wrote could otherwise fail at once with
    SQLITE_BUSY_SNAPSHOT when another connection wrote meanwhile, which no busy timeout waits
    out (https://www.sqlite.org/wal.html#sometimes_queries_return_sqlite_busy_in_wal_mode).
    None for PostgreSQL, or for an in-memory database that another connection cannot share.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    engine = sa_create_engine(parsed.set(drivername="sqlite"))
    _durable_sqlite(engine, busy_timeout, begin="BEGIN IMMEDIATE")
    return engine


def _sqlite_engine(url: str, database: str | None, busy_timeout: float) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    _durable_sqlite(engine.sync_engine, busy_timeout, begin="BEGIN")
    return engine


def _durable_sqlite(engine: Engine, busy_timeout: float, *, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins, so that
        # BEGIN covers reads too and savepoints work (SQLAlchemy's pysqlite notes).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
