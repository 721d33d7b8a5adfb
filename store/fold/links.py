"""An operator links an unmatched study or procedure step to an order."""

from __future__ import annotations

from mappers.events import Milestone, StepLinked, StepStatus, StudyLinked
from store.errors import EventRejected, Rejection
from store.fold.milestones import set_milestone, set_step_milestones
from store.fold.state import State


def link_study(state: State, event: StudyLinked, message_id: int | None) -> None:
    """Link the study and set what it proves.

    Raises:
        EventRejected: no such order, or the study is linked already.
    """
    study = state.get("studies", event.study_instance_uid)
    _check(state, study, event.accession)
    state.change("studies", event.study_instance_uid, order=event.accession)
    assert study is not None
    set_milestone(
        state, event.accession, Milestone.IMAGES_AVAILABLE, study["first_instance_at"], message_id
    )


def link_step(state: State, event: StepLinked, message_id: int | None) -> None:
    """Link the step and set what it proves.

    Raises:
        EventRejected: no such order, or the step is linked already.
    """
    step = state.get("steps", event.sop_instance_uid)
    _check(state, step, event.accession)
    assert step is not None
    state.change("steps", event.sop_instance_uid, order=event.accession)
    set_step_milestones(
        state,
        event.accession,
        StepStatus(step["status"]),
        step["started_at"],
        step["ended_at"],
        message_id=message_id,
    )


def _check(state: State, item: dict | None, accession: str) -> None:
    if item is None:
        raise EventRejected(Rejection.UNKNOWN_INSTANCE, "no such item")
    if state.get("orders", accession) is None:
        raise EventRejected(Rejection.NO_ORDER, f"no order {accession}")
    if item["order"] is not None:
        raise EventRejected(Rejection.NOT_UPDATABLE, "already linked")
