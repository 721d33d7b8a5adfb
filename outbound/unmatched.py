"""The clock-driven part of the outbox: now and then, studies that still match no order a
while after their first image are owed to the webhooks that take `unmatched_study`.

Where several gateways share PostgreSQL only the leader looks (a lock of its own), so a study
is owed once; the rows are written by the writer (`Ingest.run`) like every other change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from outbound.periodic import Periodic
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
        self._clock = clock
        self._job = Periodic(
            "looking for unmatched studies", self._owe, interval=interval, is_leader=is_leader
        )

    async def start(self) -> None:
        """Start looking."""
        await self._job.start()

    async def close(self) -> None:
        """Stop looking."""
        await self._job.close()

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

    async def _owe(self) -> None:
        owed = await self.look()
        if owed:
            log.info("outbox: %d unmatched studies owed to webhooks", owed)
