"""Patients: demographics from the newest message, merges, and arrivals."""

from __future__ import annotations

from datetime import datetime, timedelta

from mappers.events import (
    PatientId,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    Visit,
)
from store.fold.state import Row, State

PatientKey = tuple[str, str]

# An arrival belongs to the orders placed within this long of it, either side.
ARRIVAL_WINDOW = timedelta(hours=24)

_TEXT = (
    "family_name",
    "given_name",
    "middle_name",
    "name_prefix",
    "name_suffix",
    "sex",
    "patient_class",
    "location",
    "visit_number",
)


def patient_key(patient: PatientId) -> PatientKey:
    """The natural key of a patient row."""
    return (patient.value, patient.authority)


def new_patient(key: PatientKey, now: datetime) -> Row:
    """A patient row known by its identifier alone."""
    return {
        "id": None,
        "identifier": key[0],
        "authority": key[1],
        **dict.fromkeys(_TEXT, ""),
        "birth_date": None,
        "merged_into": None,
        "demographics_at": None,
        "created_at": now,
        "updated_at": now,
    }


def ensure_patient(state: State, key: PatientKey) -> Row:
    """The patient row, made bare for an identifier not seen yet."""
    row = state.get("patients", key)
    if row is None:
        row = new_patient(key, state.now)
        state.put("patients", key, row)
    return row


def resolve(state: State, patient: PatientId | None) -> PatientKey | None:
    """The key of the patient an identifier stands for now (following a merge)."""
    if patient is None:
        return None
    key = patient_key(patient)
    return ensure_patient(state, key)["merged_into"] or key


def upsert_patient(state: State, event: PatientUpserted, message_id: int | None) -> None:
    """Take demographics from a message at least as new as the last; empty erases nothing."""
    key = patient_key(event.patient)
    row = ensure_patient(state, key)
    newer = row["demographics_at"] is None or event.occurred_at >= row["demographics_at"]
    changes: Row = {"updated_at": state.now}
    if newer:
        visit = event.visit or Visit()
        incoming = {
            **_name_columns(event.name),
            "sex": event.sex,
            "patient_class": visit.patient_class.value,
            "location": visit.location,
            "visit_number": visit.visit_number,
        }
        changes.update({name: value for name, value in incoming.items() if value != ""})
        if event.birth_date is not None:
            changes["birth_date"] = event.birth_date
        changes["demographics_at"] = event.occurred_at
    state.change("patients", key, **changes)


def merge_patients(state: State, event: PatientsMerged, message_id: int | None) -> None:
    """ADT^A40: the merged identifier, and all that pointed to it, now resolve to the survivor."""
    survivor = resolve(state, event.survivor)
    merged = patient_key(event.merged)
    ensure_patient(state, merged)
    if merged == survivor:
        return
    for key, row in state.rows("patients"):
        if key == merged or row["merged_into"] == merged:
            state.change("patients", key, merged_into=survivor, updated_at=state.now)
    for key, row in state.rows("orders"):
        if row["patient"] == merged:
            state.change("orders", key, patient=survivor)
    for key, row in state.rows("arrivals"):
        if row["patient"] == merged:
            state.change("arrivals", key, patient=survivor)


def first_arrival(state: State, patient: PatientKey | None, at: datetime) -> Row | None:
    """The patient's first arrival within the window around `at` (ties: the first kept)."""
    low, high = at - ARRIVAL_WINDOW, at + ARRIVAL_WINDOW
    found = [
        (row["occurred_at"], key < 0, abs(key), row)
        for key, row in state.rows("arrivals")
        if row["patient"] == patient and low <= row["occurred_at"] <= high
    ]
    return min(found, key=lambda item: item[:3])[3] if found else None


def _name_columns(name: PersonName) -> dict[str, str]:
    return {
        "family_name": name.family,
        "given_name": name.given,
        "middle_name": name.middle,
        "name_prefix": name.prefix,
        "name_suffix": name.suffix,
    }
