"""Orders: placed, changed, or made as a placeholder by whatever names them first."""

from __future__ import annotations

from datetime import datetime

from mappers.events import (
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PersonName,
    StepStatus,
)
from store.fold.milestones import set_milestone, set_step_milestones
from store.fold.patients import PatientKey, first_arrival, resolve
from store.fold.state import Row, State

DETAILS = (
    "placer_number",
    "filler_number",
    "procedure_code",
    "procedure_text",
    "procedure_system",
    "requested_procedure_id",
    "modality",
    "priority",
    "ordering_provider_id",
    "ordering_provider_name",
    "ordering_provider_family",
    "ordering_provider_given",
    "reason",
    "patient_class",
    "location",
    "study_instance_uid",
    "scheduled_stations",
    "scheduled_station_name",
    "scheduled_step_id",
)
_MILESTONE_COLUMNS = tuple(f"{m.value}_at" for m in Milestone)


def new_order(accession: str, patient: PatientKey | None, now: datetime) -> Row:
    """An order known by its accession alone (a placeholder until its order message)."""
    return {
        "id": None,
        "accession": accession,
        "patient": patient,
        **dict.fromkeys(DETAILS, ""),
        "details_at": None,
        "scheduled_start": None,
        "scheduled_duration_minutes": None,
        "scheduled_resource": "",
        "schedule_at": None,
        "no_show_at": None,
        "status": Milestone.ORDERED.value,
        **dict.fromkeys(_MILESTONE_COLUMNS),
        "created_at": now,
        "updated_at": now,
    }


def ensure_order(state: State, accession: str, patient: PatientKey | None = None) -> Row:
    """The order with this accession, made as a placeholder when nothing named it yet."""
    row = state.get("orders", accession)
    if row is None:
        row = new_order(accession, patient, state.now)
        state.put("orders", accession, row)
    elif row["patient"] is None and patient is not None:
        row = state.change("orders", accession, patient=patient)
    return row


def upsert_order(
    state: State,
    accession: str,
    patient: PatientKey | None,
    details: OrderDetails,
    details_at: datetime,
    *,
    requested_start: datetime | None = None,
) -> Row:
    """Take an order's details from a message at least as new as the last."""
    row = state.get("orders", accession) or new_order(accession, None, state.now)
    newer = row["details_at"] is None or details_at >= row["details_at"]
    changes: Row = {"updated_at": state.now}
    if newer:
        incoming = detail_columns(details)
        changes.update({name: value for name, value in incoming.items() if value != ""})
        if patient is not None:
            changes["patient"] = patient
        changes["details_at"] = details_at
    # The order's requested time stands until an appointment (SIU) is booked.
    if row["schedule_at"] is None and requested_start is not None:
        changes["scheduled_start"] = requested_start
    changed = {**row, **changes}
    state.put("orders", accession, changed)
    return changed


def place_order(state: State, event: OrderPlaced, message_id: int | None) -> None:
    """ORC-1 NW: the order, and what came before it (its images, steps, the arrival)."""
    patient = resolve(state, event.patient)
    upsert_order(
        state,
        event.accession,
        patient,
        event.details,
        event.ordered_at,
        requested_start=event.scheduled_start,
    )
    set_milestone(state, event.accession, Milestone.ORDERED, event.ordered_at, message_id)
    _link_waiting(state, event.accession, event.details.study_instance_uid, message_id)
    arrival = first_arrival(state, patient, event.ordered_at)
    if arrival is not None:
        set_milestone(
            state, event.accession, Milestone.ARRIVED, arrival["occurred_at"], arrival["message_id"]
        )


def change_order(state: State, event: OrderChanged, message_id: int | None) -> None:
    """ORC-1 XO: the details as they are now (the newest message wins)."""
    upsert_order(
        state, event.accession, resolve(state, event.patient), event.details, event.changed_at
    )


def reach_milestone(state: State, event: MilestoneReached, message_id: int | None) -> None:
    """A message proves the order reached a milestone (cancel, status change, ...)."""
    ensure_order(state, event.accession)
    set_milestone(state, event.accession, event.milestone, event.occurred_at, message_id)


def names_the_order(row: Row, accession: str, study_uid: str) -> bool:
    """An unmatched study or step that names the order by accession, or by a Study Instance
    UID equal to the order's (or to its accession, as some senders fill it)."""
    if row["order"] is not None:
        return False
    uid = row["study_instance_uid"]
    return row["accession"] == accession or uid in (accession, study_uid or None)


def _link_waiting(state: State, accession: str, study_uid: str, message_id: int | None) -> None:
    """Studies and steps that came before their order link to it now and set its milestones."""
    firsts = []
    for key, row in state.rows("studies"):
        if names_the_order(row, accession, study_uid):
            state.change("studies", key, order=accession)
            firsts.append(row["first_instance_at"])
    if firsts:
        set_milestone(state, accession, Milestone.IMAGES_AVAILABLE, min(firsts), message_id)
    for key, row in state.rows("steps"):
        if names_the_order(row, accession, study_uid):
            state.change("steps", key, order=accession)
            set_step_milestones(
                state,
                accession,
                StepStatus(row["status"]),
                row["started_at"],
                row["ended_at"],
                message_id=message_id,
            )


def detail_columns(details: OrderDetails) -> Row:
    """The order columns an OrderDetails fills."""
    provider = details.ordering_provider
    return {
        "placer_number": details.placer_number,
        "filler_number": details.filler_number,
        "procedure_code": details.procedure.code,
        "procedure_text": details.procedure.text,
        "procedure_system": details.procedure.system,
        "requested_procedure_id": details.requested_procedure_id,
        "modality": details.modality,
        "priority": details.priority,
        "ordering_provider_id": provider.id,
        "ordering_provider_name": display_name(provider.name),
        "ordering_provider_family": provider.name.family,
        "ordering_provider_given": provider.name.given,
        "reason": details.reason,
        "patient_class": details.patient_class.value,
        "location": details.location,
        "study_instance_uid": details.study_instance_uid,
        # DICOM's multi-value form, as the worklist answers it (AE titles hold no "\\").
        "scheduled_stations": "\\".join(details.stations),
        "scheduled_station_name": details.station_name,
        "scheduled_step_id": details.scheduled_step_id,
    }


def display_name(name: PersonName) -> str:
    """`Family, Given Middle` as worklists and reports show a clinician."""
    given = " ".join(part for part in (name.prefix, name.given, name.middle) if part)
    return ", ".join(part for part in (name.family, given) if part)


def matching_order(
    state: State, accession: str, study_uid: str, requested_procedure_id: str = ""
) -> str | None:
    """The order a DICOM object names: by accession, else the order's Study Instance UID,
    else its Requested Procedure ID."""
    if accession and state.get("orders", accession) is not None:
        return accession
    for name, value in (
        ("study_instance_uid", study_uid),
        ("requested_procedure_id", requested_procedure_id),
    ):
        if value:
            for key, row in state.rows("orders"):
                if row[name] == value:
                    return key
    return None
