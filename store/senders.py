"""Group commit's expectation of who sends next: the senders of the last two batches."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from store.inbound import Inbound

# Group commit waits at most this long for the senders of the last batches to send again.
LINGER = 0.0015


class Senders:
    """Who sent in the last two batches: the senders a batch may expect to hear from again.

    With one message in flight per connection, a group commit left alone splits its senders
    into two cohorts that alternate, each batch paying the whole commit for half of them: the
    other half's next messages arrive a moment after the batch began. Expecting the senders
    of the last two batches, and waiting a moment for them, merges the cohorts again.
    """

    def __init__(self) -> None:
        self._last: set[str] = set()
        self._before: set[str] = set()

    def saw(self, inbounds: list[Inbound]) -> None:
        """Remember the senders of a batch."""
        self._before, self._last = self._last, {inbound.peer for inbound in inbounds}

    def expected(self) -> int:
        """How many messages the next batch may expect."""
        return len(self._last | self._before)


class Linger:
    """A writer's short wait for the messages it expects, woken once when they are queued
    rather than per message (each wake-up was a GIL hand-over on SQLite's writer thread, a
    timer and a task on PostgreSQL's writer task).

    `queued` counts the writer's queue. Submitters call `tell` after queueing, from any thread
    for the thread's queue and on the event loop for the task's.
    """

    def __init__(self, seconds: float, queued: Callable[[], int]) -> None:
        self._seconds = seconds
        self._queued = queued
        self._want = 0
        self._lock = threading.Lock()
        self._full = threading.Event()
        self._arrived = asyncio.Event()

    def tell(self) -> None:
        """A message was queued: wake a lingering writer when the queue holds what it waits for."""
        if not self._want:  # the writer counts the queue itself after it sets `_want`
            return
        # Under the lock: a submitter that read the last wait's `_want` must not wake the next
        # one early (a batch of twelve where sixteen were on their way).
        with self._lock:
            if self._want and self._queued() >= self._want:
                self._want = 0
                # Both: only the writer's kind is waited on, and an Event nobody waits on
                # is a flag.
                self._full.set()
                self._arrived.set()

    def _arm(self, want: int) -> bool:
        """Start waiting for `want` queued messages; True when they are there already."""
        with self._lock:
            self._full.clear()
            self._arrived.clear()
            self._want = want
            return self._queued() >= want

    def _disarm(self) -> None:
        with self._lock:
            self._want = 0

    def wait(self, want: int) -> None:
        """The writer thread: wait until `want` messages are queued, at most `seconds`."""
        if want <= 0:
            return
        if not self._arm(want):
            self._full.wait(self._seconds)
        self._disarm()

    async def wait_async(self, want: int) -> None:
        """The writer task: wait until `want` messages are queued, at most `seconds`."""
        if want <= 0:
            return
        if not self._arm(want):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._seconds):
                    await self._arrived.wait()
        self._disarm()
