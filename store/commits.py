"""A feed of the writer's commits, for readers that show the department live.

The dashboard's live view waits on it rather than polling: each commit that changed anything
moves the feed's generation on, and every waiter wakes. It carries no data; the reader reads
the read models again. Lives on the event loop; the writer's thread notifies it through the loop.
"""

from __future__ import annotations

import asyncio


class CommitFeed:
    """A generation counter that waiters can wait on; bumped once per commit."""

    def __init__(self) -> None:
        self._generation = 0
        self._changed: asyncio.Event | None = None

    @property
    def generation(self) -> int:
        """How many commits have been fed so far."""
        return self._generation

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop the waiters run on (the writer starts it)."""
        self._changed = asyncio.Event()

    def bump(self) -> None:
        """A commit happened; call from the loop."""
        self._generation += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> int:
        """The generation once it passes `seen`, or the current one after `timeout` seconds."""
        while self._generation <= seen and self._changed is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                break
        return self._generation
