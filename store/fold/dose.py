"""Dose reports: each irradiation event, and the study's total, as append-only rows."""

from __future__ import annotations

from mappers.events import DoseReported
from store.fold.state import State
from store.schema import TOTAL

# The longest acquisition protocol and study description kept (store/schema/imaging.py).
_TEXT_LIMIT = 255


def record_dose(state: State, event: DoseReported, message_id: int | None) -> None:
    """Add the report's total and its events; its study links it to the order (the same
    message's instance makes or links the study)."""
    common = {
        "sop_instance_uid": event.sop_instance_uid,
        "study_instance_uid": event.study_instance_uid,
        "accession": event.accession,
        "device": event.device_ae_title,
        "study_description": event.study_description[:_TEXT_LIMIT],
        "received_at": event.received_at,
    }
    state.append(
        "dose_events",
        {
            **common,
            "event_uid": TOTAL,
            "protocol": "",
            "ctdivol": event.max_ctdivol,
            "dlp": event.total_dlp,
        },
    )
    seen = {TOTAL}
    for irradiation in event.events:
        # An event without a UID (or one named twice) is still counted in the total; the
        # rows are keyed by report and event UID, so it gets a position-based key.
        uid = irradiation.event_uid[:64] or f"#{len(seen)}"
        if uid in seen:
            uid = f"#{len(seen)}"
        seen.add(uid)
        state.append(
            "dose_events",
            {
                **common,
                "event_uid": uid,
                "protocol": irradiation.protocol[:_TEXT_LIMIT],
                "ctdivol": irradiation.ctdivol,
                "dlp": irradiation.dlp,
            },
        )
