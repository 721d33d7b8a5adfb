"""The pruning job: every hour, the message log's old bodies and rows go, a step at a time.

Each step is store work the writer runs between batches (`Ingest.run`), so ingest waits at
most one short step. Where several gateways share PostgreSQL only the leader prunes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from outbound.periodic import Periodic
from store.ingest import Ingest
from store.retention import Cutoffs, Pruned, prune_step

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 3600.0  # seconds between pruning runs


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind of record is kept (0 keeps forever)."""

    raw_days: int
    message_days: int
    audit_days: int = 0


async def prune(ingest: Ingest, cutoffs: Cutoffs) -> Pruned:
    """Prune everything older than the cutoffs, step by step through the writer; the totals."""
    total = Pruned()
    while True:
        step = await ingest.run(partial(prune_step, cutoffs=cutoffs))
        total = Pruned(
            bodies=total.bodies + step.bodies,
            rows=total.rows + step.rows,
            audit=total.audit + step.audit,
            outbox=total.outbox + step.outbox,
        )
        if not step.anything:
            return total


class Pruner:
    """Runs `prune` on an interval while this process leads."""

    def __init__(
        self,
        ingest: Ingest,
        retention: Retention,
        *,
        is_leader: Callable[[], Awaitable[bool]],
        interval: float = PRUNE_INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ingest = ingest
        self._retention = retention
        self._clock = clock
        self._job = Periodic(
            "pruning", self._once, interval=interval, is_leader=is_leader, wait_first=True
        )

    async def start(self) -> None:
        """Start the job."""
        await self._job.start()

    async def close(self) -> None:
        """Stop the job (a step under way is rolled back or committed whole)."""
        await self._job.close()

    async def _once(self) -> None:
        retention = self._retention
        cutoffs = Cutoffs.from_days(
            self._clock(), retention.raw_days, retention.message_days, retention.audit_days
        )
        pruned = await prune(self._ingest, cutoffs)
        if pruned.anything:
            log.info(
                "pruned %d message bodies, %d log rows, %d audit records, %d delivered outbox rows",
                pruned.bodies,
                pruned.rows,
                pruned.audit,
                pruned.outbox,
            )
