"""The clock-driven part of the outbox: what is owed for the passing of time, not for a change.

Now and then, studies that still match no order a while after their first image are owed to
the webhooks taking `unmatched_study`, and flow figures past their goal with their end still
missing to those taking `turnaround_over_goal`. Where several gateways share PostgreSQL only
the leader looks (a lock of its own), so each is owed once; the rows are written by the
writer (`Ingest.run`) like every other change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection

from outbound.periodic import Periodic
from store.ingest import Ingest

log = logging.getLogger(__name__)

# One look: given the writer's connection and the time, add what is owed; how many rows.
Look = Callable[..., int]


class OutboxWatch:
    """Runs its looks on an interval while this process leads."""

    def __init__(
        self,
        ingest: Ingest,
        looks: Sequence[Look],
        *,
        interval: float,
        is_leader: Callable[[], Awaitable[bool]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ingest = ingest
        self._looks = tuple(looks)
        self._clock = clock
        self._job = Periodic("outbox watch", self._owe, interval=interval, is_leader=is_leader)

    async def start(self) -> None:
        """Start looking."""
        await self._job.start()

    async def close(self) -> None:
        """Stop looking."""
        await self._job.close()

    async def look(self) -> int:
        """One round of every look: the number of rows owed."""
        owed = 0
        for look in self._looks:
            owed += await self._ingest.run(partial(_at, look, self._clock()))
        return owed

    async def _owe(self) -> None:
        owed = await self.look()
        if owed:
            log.info("outbox: %d rows owed for the passing of time", owed)


def _at(look: Look, now: datetime, conn: Connection) -> int:
    return look(conn, now=now)
