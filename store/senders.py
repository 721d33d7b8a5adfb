"""Group commit's expectation of who sends next: the senders of the last two batches."""

from __future__ import annotations

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
