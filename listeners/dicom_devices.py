"""Every instance a modality sends says which device it came from (a DeviceSeen); only news
is worth a write: a device unchanged since it was last stored is learned again only every
REFRESH."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mappers.events import DeviceSeen, Event

REFRESH = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SeenDevices:
    """What each device last said about itself, and when that was stored. Shared by the
    SCP's association threads, hence the lock."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[DeviceSeen, datetime]] = {}
        self._lock = threading.Lock()

    def news(self, events: list[Event]) -> list[Event]:
        """The events without a DeviceSeen that says nothing new (every image repeats it)."""
        kept = []
        for event in events:
            if isinstance(event, DeviceSeen):
                described = replace(event, seen_at=_EPOCH)
                with self._lock:
                    last = self._seen.get(event.ae_title)
                    if last and last[0] == described and event.seen_at - last[1] < REFRESH:
                        continue
                    self._seen[event.ae_title] = (described, event.seen_at)
            kept.append(event)
        return kept
