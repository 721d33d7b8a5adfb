"""Milestones: each set once, at the earliest time any message proves, with a timeline row."""

from __future__ import annotations

from datetime import datetime

from mappers.events import PROGRESS, Milestone, StepStatus
from store.figures import FIGURES, goal_for
from store.fold.outbox import (
    MILESTONE,
    ORDER_CANCELLED,
    TURNAROUND_OVER_GOAL,
    notify,
    order_key,
)
from store.fold.state import Row, State

# The status is the first of these an order has reached (DESIGN.md, "The exam lifecycle").
_STATUS_ORDER = (Milestone.CANCELLED, Milestone.DISCONTINUED, *reversed(PROGRESS))


def column(milestone: Milestone) -> str:
    """The order column that holds a milestone's time."""
    return f"{milestone.value}_at"


def status_of(row: Row) -> str:
    """An ended order's end, else its furthest milestone, else the status it had."""
    for milestone in _STATUS_ORDER:
        if row[column(milestone)] is not None:
            return milestone.value
    return row["status"]


def set_milestone(
    state: State, accession: str, milestone: Milestone, at: datetime, message_id: int | None
) -> bool:
    """Record a milestone at the earliest time proven for it; True when this moved it."""
    row = state.get("orders", accession)
    assert row is not None, "milestones are set on orders the fold made or loaded"
    current = row[column(milestone)]
    if current is not None and current <= at:
        return False
    changed = {**row, column(milestone): at, "updated_at": state.now}
    changed["status"] = status_of(changed)
    state.put("orders", accession, changed)
    state.append(
        "order_timeline",
        {
            "order": accession,
            "milestone": milestone.value,
            "occurred_at": at,
            "message_id": message_id,
            "recorded_at": state.now,
        },
    )
    if current is None:  # the first proof; an earlier time found later is no news
        fact = {"accession": accession, "milestone": milestone.value, "at": at}
        notify(state, MILESTONE, order_key(accession), at, fact)
        if milestone is Milestone.CANCELLED:
            cancelled = {"accession": accession, "at": at}
            notify(state, ORDER_CANCELLED, order_key(accession), at, cancelled)
        if state.goals:
            _announce_late_figures(state, changed, column(milestone), at)
    return True


def _announce_late_figures(state: State, order: Row, set_now: str, at: datetime) -> None:
    """A figure this milestone completes that took longer than its goal (DESIGN.md, the
    flow figures): announced once, when the second of its two ends is first known."""
    for figure, (start, end) in FIGURES.items():
        if set_now not in (start, end) or order[start] is None or order[end] is None:
            continue
        goal = goal_for(
            state.goals, figure, order["modality"], order["priority"], order["patient_class"]
        )
        minutes = (order[end] - order[start]).total_seconds() / 60
        if goal is None or minutes <= goal:
            continue
        fact = {
            "accession": order["accession"],
            "figure": figure,
            "minutes": round(minutes, 1),
            "goal_minutes": goal,
            "open": False,  # complete, and late; a look may have announced it while open
            "at": at,
        }
        notify(state, TURNAROUND_OVER_GOAL, order_key(order["accession"]), at, fact)


def set_step_milestones(
    state: State,
    accession: str,
    status: StepStatus,
    started_at: datetime | None,
    ended_at: datetime | None,
    *,
    message_id: int | None,
) -> None:
    """What a procedure step proves about its order: started, and completed or discontinued."""
    if started_at is not None:
        set_milestone(state, accession, Milestone.EXAM_STARTED, started_at, message_id)
    if ended_at is None:
        return
    if status is StepStatus.COMPLETED:
        set_milestone(state, accession, Milestone.EXAM_COMPLETED, ended_at, message_id)
    elif status is StepStatus.DISCONTINUED:
        set_milestone(state, accession, Milestone.DISCONTINUED, ended_at, message_id)
