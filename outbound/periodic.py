"""A job that runs on an interval while this process leads.

The prober, the unmatched-study look and pruning each run on a timer, and where several
gateways share PostgreSQL only the holder of the job's advisory lock runs it (DESIGN.md,
"Store and scale"; on SQLite the one process always leads). A failed run is logged and the
next one tries again: a store hiccup never ends a job for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

LeaderLock = Callable[[], Awaitable[bool]]


class Periodic:
    """Runs `run_once` every `interval` seconds while `is_leader` says so, until closed."""

    def __init__(
        self,
        name: str,
        run_once: Callable[[], Awaitable[object]],
        *,
        interval: float,
        is_leader: LeaderLock,
        wait_first: bool = False,
    ) -> None:
        self._name = name
        self._run_once = run_once
        self._interval = interval
        self._is_leader = is_leader
        self._wait_first = wait_first  # a job not worth running at start-up waits one interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the job in the background."""
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self) -> None:
        """Stop the job; a run under way is cancelled where it waits."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._wait_first:
            await asyncio.sleep(self._interval)
        while True:
            try:
                if await self._is_leader():
                    await self._run_once()
            except Exception as exc:  # the next run tries again
                log.error("%s failed: %s", self._name, type(exc).__name__)
                log.debug("%s failure detail", self._name, exc_info=exc)
            await asyncio.sleep(self._interval)
