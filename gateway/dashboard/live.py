"""Open live streams end when the gateway stops: one event every stream also waits on."""

from __future__ import annotations

import asyncio
import contextlib

from store.commits import CommitFeed


class LiveStreams:
    """The streams' shared stop signal, set when the application shuts down."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()

    async def next_generation(self, feed: CommitFeed, seen: int, timeout: float) -> int | None:
        """The generation once past `seen` (or after `timeout` s); None once stopping."""
        if self.closing.is_set():
            return None
        waiting = asyncio.ensure_future(feed.wait(seen, timeout))
        stopping = asyncio.ensure_future(self.closing.wait())
        try:
            await asyncio.wait((waiting, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.closing.is_set():
            return None
        return waiting.result()
