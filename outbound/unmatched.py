"""The clock-driven part of the outbox: now and then, studies that still match no order a
while after their first image are owed to the webhooks that take `unmatched_study`.

Where several gateways share PostgreSQL only the leader looks (a lock of its own), so a study
is owed once; the rows are written by the writer (`Ingest.run`) like every other change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from store.fold.outbox import Route
from store.ingest import Ingest
from store.outbox_watch import owe_unmatched_studies

log = logging.getLogger(__name__)


class UnmatchedWatch:
    """Looks for unmatched studies on an interval while this process leads."""

    def __init__(
        self,
        ingest: Ingest,
        routes: Sequence[Route],
        *,
        older_than: timedelta,
        interval: float,
        is_leader: Callable[[], Awaitable[bool]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ingest = ingest
        self._routes = tuple(routes)
        self._older_than = older_than
        self._interval = interval
        self._is_leader = is_leader
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start looking."""
        self._task = asyncio.create_task(self._run(), name="outbox-unmatched")

    async def close(self) -> None:
        """Stop looking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def look(self) -> int:
        """One look: the number of rows owed."""
        return await self._ingest.run(
            partial(
                owe_unmatched_studies,
                routes=self._routes,
                now=self._clock(),
                older_than=self._older_than,
            )
        )

    async def _run(self) -> None:
        while True:
            try:
                if await self._is_leader():
                    owed = await self.look()
                    if owed:
                        log.info("outbox: %d unmatched studies owed to webhooks", owed)
            except Exception as exc:  # the next look tries again
                log.error("outbox: looking for unmatched studies failed: %s", type(exc).__name__)
                log.debug("unmatched look failure detail", exc_info=exc)
            await asyncio.sleep(self._interval)
