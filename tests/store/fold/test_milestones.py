"""Milestones: the earliest time wins, each move is on the timeline, ends rule the status."""

from __future__ import annotations

from mappers.events import Milestone, MilestoneReached
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def test_the_earliest_time_wins_and_each_move_is_recorded() -> None:
    """A later proof changes nothing; an earlier one moves the milestone and is recorded."""
    folded = fold(
        (MilestoneReached("A1", Milestone.EXAM_STARTED, at(10)),),
        (MilestoneReached("A1", Milestone.EXAM_STARTED, at(20)),),
        (MilestoneReached("A1", Milestone.EXAM_STARTED, at(5)),),
    )
    assert folded.state.get("orders", "A1")["exam_started_at"] == at(5)
    timeline = folded.state.appended["order_timeline"]
    assert [(r["occurred_at"], r["message_id"]) for r in timeline] == [(at(10), 1), (at(5), 3)]


def test_a_cancelled_order_stays_cancelled_whatever_comes_after() -> None:
    """The status of an ended order is its end, though later milestones are still kept."""
    folded = fold(
        (MilestoneReached("A1", Milestone.CANCELLED, at(1)),),
        (MilestoneReached("A1", Milestone.FINAL_REPORT, at(2)),),
    )
    row = folded.state.get("orders", "A1")
    assert (row["status"], row["final_report_at"]) == ("cancelled", at(2))
