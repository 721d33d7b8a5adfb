"""The appointment: the newest booking message wins; a no-show keeps its earliest time."""

from __future__ import annotations

from mappers.events import AppointmentCancelled, PatientNoShow, ProcedureScheduled
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def test_an_older_booking_does_not_undo_a_newer_cancel() -> None:
    """SIU^S15 at 10, then an SIU^S12 sent at 5: the appointment stays cancelled."""
    folded = fold(
        (AppointmentCancelled("A1", at(10)),),
        (ProcedureScheduled("A1", at(60), 30, "CT1", at(5)),),
    )
    row = folded.state.get("orders", "A1")
    assert (row["scheduled_start"], row["scheduled_resource"], row["scheduled_at"]) == (
        None,
        "",
        at(5),
    )


def test_the_earliest_no_show_is_kept() -> None:
    """Two no-show messages: the earlier time stands."""
    folded = fold((PatientNoShow("A1", at(9)),), (PatientNoShow("A1", at(3)),))
    assert folded.state.get("orders", "A1")["no_show_at"] == at(3)
