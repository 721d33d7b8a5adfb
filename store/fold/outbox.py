"""The outbox's fold: what a batch owes the destinations, decided with the facts behind it.

A rule that makes a fact another system wants to hear of (a milestone reached for the first
time, a device gone down or back up) adds a notice; once the batch is folded each notice
becomes one outbox row per destination that subscribes to it. Notices are rolled back with a
refused message, so nothing is owed for a change that was not made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from store.fold.state import Row, State

HL7 = "hl7"
WEBHOOK = "webhook"
MILESTONE = "milestone"
ORDER_CANCELLED = "order_cancelled"
DEVICE_DOWN = "device_down"
DEVICE_UP = "device_up"
# What an HL7 destination may subscribe to: the procedure status updates (milestones).
HL7_EVENTS = ("exam_started", "exam_completed", "discontinued", "images_available")
TURNAROUND_OVER_GOAL = "turnaround_over_goal"
UNMATCHED_STUDY = "unmatched_study"  # owed by a clock-driven job, not by the fold
WEBHOOK_EVENTS = (
    MILESTONE,
    ORDER_CANCELLED,
    DEVICE_DOWN,
    DEVICE_UP,
    TURNAROUND_OVER_GOAL,
    UNMATCHED_STUDY,
)
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class Destinations:
    """What the fold owes notices to: the routes, and the turnaround goals to watch (given
    only when a destination takes turnaround_over_goal)."""

    routes: tuple[Route, ...] = ()
    goals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """A destination as the fold sees it: its name, its kind and the events it takes."""

    name: str
    kind: str  # HL7 or WEBHOOK
    events: frozenset[str]

    def takes(self, notice: Row) -> bool:
        """Whether this destination subscribes to the notice."""
        if self.kind == HL7:
            return notice["type"] == MILESTONE and notice["data"]["milestone"] in self.events
        return notice["type"] in self.events


def notify(state: State, type_: str, key: str, at: datetime, data: dict[str, Any]) -> None:
    """Note a fact the destinations may want; `key` orders it among the facts of one thing."""
    state.append("notices", {"type": type_, "key": key, "at": at, "data": data})


def order_key(accession: str) -> str:
    """The sequence key of an order's events."""
    return f"order:{accession}"


def device_key(ae_title: str) -> str:
    """The sequence key of a device's events."""
    return f"device:{ae_title}"


def study_key(study_instance_uid: str) -> str:
    """The sequence key of a study's events."""
    return f"study:{study_instance_uid}"


def route_notices(notices: Iterable[Row], routes: Sequence[Route], now: datetime) -> list[Row]:
    """One pending outbox row per notice per destination that takes it, in notice order (the
    shell gives each its event id)."""
    rows = []
    for notice in notices:
        for route in routes:
            if not route.takes(notice):
                continue
            event_type = notice["data"]["milestone"] if route.kind == HL7 else notice["type"]
            rows.append(
                pending_row(
                    route,
                    event_type,
                    notice["key"],
                    occurred_at=notice["at"],
                    data=notice["data"],
                    now=now,
                )
            )
    return rows


NO_DESTINATIONS = Destinations()


def pending_row(
    route: Route,
    event_type: str,
    sequence_key: str,
    *,
    occurred_at: datetime,
    data: dict[str, Any],
    now: datetime,
) -> Row:
    """A new outbox row, owed to `route` and not yet tried."""
    return {
        "destination": route.name,
        "kind": route.kind,
        "event_type": event_type,
        "sequence_key": sequence_key,
        "occurred_at": occurred_at,
        "data": orjson.dumps(data).decode(),
        "body": None,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "claimed_at": None,
        "claimed_until": None,
        "claimed_by": "",
        "sent_at": None,
        "acknowledged_at": None,
        "last_error": None,
    }
