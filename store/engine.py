"""The database engine, SQLite (aiosqlite) or PostgreSQL (asyncpg), chosen by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


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
        },
    )


def _sqlite_engine(url: str, database: str | None, busy_timeout: float) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
