"""The SQLite writer's connection, held across its transactions.

`Engine.begin()` checks a connection out of the pool for every batch, and on the way back in
the pool rolls it back to reset it: with `storescu` on one association (a batch per
instance) that was a third of the writer thread's work (py-spy --gil, bench/dicom.py). The
writer is one thread running one transaction at a time, so it keeps one connection and only
begins and ends transactions on it; a connection the driver lost is replaced at the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine


class HeldConnection:
    """One connection of `engine`, each `begin()` a transaction on it (as `Engine.begin`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction, committed when the block ends, rolled back when it raises.

        Raises:
            sqlalchemy.exc.DBAPIError: the database refused to connect or to begin.
        """
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._conn = self._engine.connect()
        with conn.begin():
            yield conn

    def close(self) -> None:
        """Give the connection back to the engine's pool."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
