"""Studies, series and instances from C-STORE; a study's first image sets images_available."""

from __future__ import annotations

from mappers.events import InstanceStored, Milestone, PatientId
from store.fold.devices import known_device
from store.fold.milestones import set_milestone
from store.fold.orders import matching_order
from store.fold.state import State


def store_instance(state: State, event: InstanceStored, message_id: int | None) -> None:
    """Index one instance; the same instance again changes nothing but the study's stamp."""
    study_uid, series_uid = event.study_instance_uid, event.series_instance_uid
    study = state.get("studies", study_uid)
    if study is None:
        patient = event.patient or PatientId("")
        study = {
            "id": None,
            "study_instance_uid": study_uid,
            "order": None,
            "accession": event.accession,
            "patient_identifier": patient.value,
            "patient_authority": patient.authority,
            "patient_name": event.patient_name[:255],
            "patient_birth_date": event.patient_birth_date,
            "patient_sex": event.patient_sex[:16],
            "study_started_at": event.study_started_at,
            "description": event.study_description,
            "device": known_device(state, event.device_ae_title),
            "first_instance_at": event.received_at,
            "last_instance_at": event.received_at,
            "instance_count": 0,
            "created_at": state.now,
        }
    study = {**study, "updated_at": state.now}
    state.put("studies", study_uid, study)
    series = state.get("series", series_uid)
    if series is None:
        series = {
            "id": None,
            "series_instance_uid": series_uid,
            "study": study_uid,
            "body_part": event.body_part,
            "instance_count": 0,
        }
    # An availability notification names no modality: it keeps the one images gave.
    series = {**series, "modality": event.modality or series.get("modality", "")}
    state.put("series", series_uid, series)
    known = state.get("instances", event.sop_instance_uid)
    if known is not None:
        if not known["transfer_syntax"] and event.transfer_syntax:
            # Announced by a PACS's notification first, now received itself: keep how it came
            # and where its file is (it is still counted once).
            state.change(
                "instances",
                event.sop_instance_uid,
                transfer_syntax=event.transfer_syntax,
                stored_path=event.stored_path,
            )
        return  # the same instance again: already counted
    state.put(
        "instances",
        event.sop_instance_uid,
        {
            "id": None,
            "sop_instance_uid": event.sop_instance_uid,
            "series": series_uid,
            "sop_class_uid": event.sop_class_uid,
            "transfer_syntax": event.transfer_syntax,
            "received_at": event.received_at,
            "stored_path": event.stored_path,
            "message_id": message_id,
        },
    )
    state.change("series", series_uid, instance_count=series["instance_count"] + 1)
    state.change(
        "studies",
        study_uid,
        instance_count=study["instance_count"] + 1,
        first_instance_at=min(study["first_instance_at"], event.received_at),
        last_instance_at=max(study["last_instance_at"], event.received_at),
    )
    if study["instance_count"]:
        # The study's first instance already matched its order (or found none, and the order
        # links the study when it arrives); later instances change no milestone.
        return
    accession = study["order"]
    if accession is None:
        accession = matching_order(state, event.accession, study_uid) or _step_order(
            state, event.performed_step_uid
        )
        if accession is None:
            return  # unmatched: kept, and linked when its order arrives
        state.change("studies", study_uid, order=accession)
    set_milestone(state, accession, Milestone.IMAGES_AVAILABLE, event.received_at, message_id)


def _step_order(state: State, step_uid: str) -> str | None:
    """The order of the performed procedure step an availability notification references."""
    step = state.get("steps", step_uid) if step_uid else None
    return None if step is None else step["order"]
