"""A feed of the writer's commits, for readers that show the department live.

The dashboard's live view waits on it rather than polling: each commit that changed anything
moves the feed's generation on, and every waiter wakes. It carries no data; the reader reads
the read models again. Waiters live on the event loop. The SQLite writer's thread moves the
generation on itself and wakes the loop only when someone waits: a hop to the loop for every
commit cost as much as the commit's own statements when nobody reads (bench/dicom.py).
"""

from __future__ import annotations

import asyncio


class CommitFeed:
    """A generation counter that waiters can wait on; bumped once per commit."""

    def __init__(self) -> None:
        self._generation = 0
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = 0  # waiters on the loop, counted before they read the generation

    @property
    def generation(self) -> int:
        """How many commits have been fed so far."""
        return self._generation

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop the waiters run on (the writer starts it)."""
        self._loop = loop
        self._changed = asyncio.Event()

    def bump(self) -> None:
        """A commit happened; call from the loop."""
        self._generation += 1
        self._wake()

    def bump_threadsafe(self) -> None:
        """A commit happened; call from the one writer thread. The loop is woken only when
        a reader waits: a waiter counts itself before it reads the generation, so either it
        is counted here or it reads the new generation and does not wait."""
        self._generation += 1
        if self._waiting and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> int:
        """The generation once it passes `seen`, or the current one after `timeout` seconds."""
        self._waiting += 1
        try:
            while self._generation <= seen and self._changed is not None:
                try:
                    async with asyncio.timeout(timeout):
                        await self._changed.wait()
                except TimeoutError:
                    break
        finally:
            self._waiting -= 1
        return self._generation
