"""Leadership among gateway processes that share one PostgreSQL: one of them runs the
periodic jobs (the prober), by a session-level advisory lock held on its own connection."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

PROBE_LOCK_KEY = 0x1A6E_7072  # an arbitrary constant, the same in every process
PRUNE_LOCK_KEY = 0x1A6E_7073  # the pruning job leads on its own lock
UNMATCHED_LOCK_KEY = 0x1A6E_7074  # so does the outbox's look for unmatched studies
PACS_LOCK_KEY = 0x1A6E_7075  # and the PACS reconciler


class LeaderLock:
    """Held by at most one process at a time; lost with its connection, then retried."""

    def __init__(self, engine: AsyncEngine, key: int = PROBE_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None
        self._held = False

    async def held(self) -> bool:
        """True while this process holds the lock; tries to take it when it does not.

        SQLite serves one process only, so that process always leads.
        """
        if self._engine.dialect.name != "postgresql":
            return True
        try:
            if self._conn is None:
                self._conn = await self._engine.connect()
                # No transaction may stay open for the lock's lifetime.
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            if self._held:
                await self._conn.execute(text("SELECT 1"))  # still connected: still held
            else:
                taken = await self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                )
                self._held = bool(taken.scalar())
                if self._held:
                    log.info("this process now runs the periodic jobs")
        except Exception as exc:
            log.warning("leader lock lost: %s", type(exc).__name__)
            await self.release()
        return self._held

    async def release(self) -> None:
        """Give the lock up (closing the connection releases it in any case)."""
        conn, self._conn = self._conn, None
        held, self._held = self._held, False
        if conn is None:
            return
        # A connection that is already gone took the lock with it: nothing to undo then.
        with contextlib.suppress(Exception):
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        with contextlib.suppress(Exception):
            await conn.close()
