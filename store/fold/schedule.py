"""The appointment: booked (SIU), cancelled, or missed; the newest booking message wins."""

from __future__ import annotations

from mappers.events import AppointmentCancelled, Milestone, PatientNoShow, ProcedureScheduled
from store.fold.milestones import set_milestone
from store.fold.orders import ensure_order
from store.fold.patients import resolve
from store.fold.state import State


def schedule(state: State, event: ProcedureScheduled, message_id: int | None) -> None:
    """SIU^S12-S14: book the appointment unless a newer booking message was applied."""
    row = ensure_order(state, event.accession, resolve(state, event.patient))
    if row["schedule_at"] is None or row["schedule_at"] <= event.booked_at:
        state.change(
            "orders",
            event.accession,
            scheduled_start=event.start,
            scheduled_duration_minutes=event.duration_minutes,
            scheduled_resource=event.resource,
            schedule_at=event.booked_at,
            updated_at=state.now,
        )
    set_milestone(state, event.accession, Milestone.SCHEDULED, event.booked_at, message_id)


def cancel_appointment(state: State, event: AppointmentCancelled, message_id: int | None) -> None:
    """SIU^S15: the appointment is off (the order stays open)."""
    row = ensure_order(state, event.accession)
    if row["schedule_at"] is None or row["schedule_at"] <= event.occurred_at:
        state.change(
            "orders",
            event.accession,
            scheduled_start=None,
            scheduled_duration_minutes=None,
            scheduled_resource="",
            schedule_at=event.occurred_at,
            updated_at=state.now,
        )


def no_show(state: State, event: PatientNoShow, message_id: int | None) -> None:
    """SIU^S26: the earliest time the patient was reported missing."""
    row = ensure_order(state, event.accession)
    if row["no_show_at"] is None or row["no_show_at"] > event.occurred_at:
        state.change("orders", event.accession, no_show_at=event.occurred_at, updated_at=state.now)
