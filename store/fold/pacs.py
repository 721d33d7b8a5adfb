"""What the PACS reconciler found, kept as it was found (one row per reconciliation)."""

from __future__ import annotations

from dataclasses import asdict

import orjson

from mappers.events import PacsReconciled
from store.fold.state import State


def record_reconciliation(state: State, event: PacsReconciled, message_id: int | None) -> None:
    """Keep the reconciliation's window and outcome; the newest one is the PACS's state."""
    state.append(
        "pacs_checks",
        {
            "checked_at": event.checked_at,
            "window_first": event.window_first,
            "window_last": event.window_last,
            "reachable": event.reachable,
            "error": event.error,
            "missing": orjson.dumps([asdict(item) for item in event.missing]).decode(),
            "unordered": orjson.dumps([asdict(item) for item in event.unordered]).decode(),
            "recorded_at": state.now,
        },
    )
