"""Modality Performed Procedure Steps (MPPS): created once, updated while in progress."""

from __future__ import annotations

import orjson

from mappers.events import ProcedureStepCreated, ProcedureStepUpdated, ScheduledStep, StepStatus
from store.errors import EventRejected, Rejection
from store.fold.devices import known_device
from store.fold.milestones import set_step_milestones
from store.fold.orders import matching_order
from store.fold.state import State


def create_step(state: State, event: ProcedureStepCreated, message_id: int | None) -> None:
    """MPPS N-CREATE: a new step, linked to its order by its scheduled step attributes.

    Raises:
        EventRejected: a step with this SOP Instance UID exists already.
    """
    first = event.steps[0] if event.steps else ScheduledStep()
    accession = None
    for step in event.steps:
        accession = matching_order(
            state, step.accession, step.study_instance_uid, step.requested_procedure_id
        )
        if accession is not None:
            break
    if state.get("steps", event.sop_instance_uid) is not None:
        raise EventRejected(
            Rejection.DUPLICATE, f"procedure step {event.sop_instance_uid} exists already"
        )
    state.put(
        "steps",
        event.sop_instance_uid,
        {
            "id": None,
            "sop_instance_uid": event.sop_instance_uid,
            "order": accession,
            "accession": first.accession,
            "requested_procedure_id": first.requested_procedure_id,
            "study_instance_uid": first.study_instance_uid,
            "status": event.status.value,
            "device": known_device(state, event.station_ae_title),
            "station_ae_title": event.station_ae_title,
            "modality": event.modality,
            "started_at": event.started_at,
            "ended_at": event.ended_at,
            "dose": orjson.dumps(dict(event.dose)).decode(),
            "created_at": state.now,
            "updated_at": state.now,
        },
    )
    if accession is not None:
        set_step_milestones(
            state, accession, event.status, event.started_at, event.ended_at, message_id=message_id
        )


def update_step(state: State, event: ProcedureStepUpdated, message_id: int | None) -> None:
    """MPPS N-SET: status, end and dose as the modality reports them now.

    Raises:
        EventRejected: no such step, or it is already completed or discontinued
            (PS3.4 F.7.2.2).
    """
    row = state.get("steps", event.sop_instance_uid)
    if row is None:
        raise EventRejected(
            Rejection.UNKNOWN_INSTANCE, f"no procedure step {event.sop_instance_uid}"
        )
    if row["status"] != StepStatus.IN_PROGRESS.value:
        raise EventRejected(
            Rejection.NOT_UPDATABLE,
            f"procedure step is {row['status']} and may no longer be updated",
        )
    status = event.status or StepStatus(row["status"])
    ended_at = event.ended_at or row["ended_at"]
    dose = {**orjson.loads(row["dose"] or "{}"), **dict(event.dose)}
    state.change(
        "steps",
        event.sop_instance_uid,
        status=status.value,
        ended_at=ended_at,
        dose=orjson.dumps(dose).decode(),
        updated_at=state.now,
    )
    if row["order"] is not None:
        set_step_milestones(
            state, row["order"], status, row["started_at"], ended_at, message_id=message_id
        )
