"""Arrivals (ADT^A10): kept, and marked on the patient's orders whichever comes first."""

from __future__ import annotations

from mappers.events import Milestone, PatientArrived
from store.fold.milestones import set_milestone
from store.fold.orders import ensure_order
from store.fold.patients import ARRIVAL_WINDOW, resolve
from store.fold.state import State


def record_arrival(state: State, event: PatientArrived, message_id: int | None) -> None:
    """Keep the arrival and mark it on its orders: the one named, or those within a day."""
    patient = resolve(state, event.patient)
    state.put(
        "arrivals",
        state.new_key(),
        {
            "id": None,
            "patient": patient,
            "occurred_at": event.occurred_at,
            "message_id": message_id,
        },
    )
    if event.accession:
        accessions = [ensure_order(state, event.accession, patient)["accession"]]
    else:
        low, high = event.occurred_at - ARRIVAL_WINDOW, event.occurred_at + ARRIVAL_WINDOW
        accessions = [
            key
            for key, row in state.rows("orders")
            if row["patient"] == patient
            and row["ordered_at"] is not None
            and low <= row["ordered_at"] <= high
        ]
    for accession in accessions:
        set_milestone(state, accession, Milestone.ARRIVED, event.occurred_at, message_id)
