"""Reports: every version kept; preliminary and final set their milestones."""

from __future__ import annotations

from mappers.events import Provider, ReportIssued, ReportStatus
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def test_a_corrected_report_is_kept_and_the_final_time_stays_the_first() -> None:
    """Final then corrected: two reports, final_report at the final's time."""
    folded = fold(
        (ReportIssued("A1", ReportStatus.FINAL, "a", Provider("R"), at(10)),),
        (ReportIssued("A1", ReportStatus.CORRECTED, "b", Provider("R"), at(20)),),
    )
    assert [r["status"] for r in folded.state.appended["reports"]] == ["final", "corrected"]
    row = folded.state.get("orders", "A1")
    assert (row["final_report_at"], row["status"]) == (at(10), "final_report")
