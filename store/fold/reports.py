"""Reports (ORU^R01): every version kept; preliminary and final set their milestones."""

from __future__ import annotations

from mappers.events import Milestone, ReportIssued, ReportStatus
from store.fold.milestones import set_milestone
from store.fold.orders import display_name, ensure_order
from store.fold.patients import resolve
from store.fold.state import State

_MILESTONES = {
    ReportStatus.PRELIMINARY: Milestone.PRELIMINARY_REPORT,
    ReportStatus.FINAL: Milestone.FINAL_REPORT,
    ReportStatus.CORRECTED: Milestone.FINAL_REPORT,
}


def issue_report(state: State, event: ReportIssued, message_id: int | None) -> None:
    """Keep the report and set the milestone its status proves."""
    ensure_order(state, event.accession, resolve(state, event.patient))
    state.append(
        "reports",
        {
            "order": event.accession,
            "status": event.status.value,
            "text": event.text,
            "radiologist_id": event.radiologist.id,
            "radiologist_name": display_name(event.radiologist.name),
            "result_at": event.result_at,
            "message_id": message_id,
            "recorded_at": state.now,
        },
    )
    set_milestone(state, event.accession, _MILESTONES[event.status], event.result_at, message_id)
