"""Dose reports: the study's total and each irradiation event, as append-only rows."""

from __future__ import annotations

from mappers.events import DoseReported, IrradiationDose
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def _report(*events: IrradiationDose) -> DoseReported:
    return DoseReported(
        sop_instance_uid="1.2.3.9",
        study_instance_uid="1.2.3",
        accession="A1",
        device_ae_title="CT01",
        study_description="HEAD",
        max_ctdivol=12.5,
        total_dlp=350.0,
        events=events,
        received_at=at(5),
    )


def test_a_report_gives_its_total_and_one_row_per_event() -> None:
    """The total first (empty event UID), then each event with its protocol and values."""
    folded = fold(
        (
            _report(
                IrradiationDose("9.1", "Head", 10.0, 100.0), IrradiationDose("9.2", "", 12.5, None)
            ),
        )
    )
    rows = folded.state.appended["dose_events"]
    assert [(r["event_uid"], r["protocol"], r["ctdivol"], r["dlp"]) for r in rows] == [
        ("", "", 12.5, 350.0),
        ("9.1", "Head", 10.0, 100.0),
        ("9.2", "", 12.5, None),
    ]
    assert {(r["study_instance_uid"], r["accession"], r["device"]) for r in rows} == {
        ("1.2.3", "A1", "CT01")
    }


def test_events_without_a_uid_or_named_twice_still_get_a_row_each() -> None:
    """Rows are keyed by report and event UID: a missing or repeated UID gets a place key."""
    same = IrradiationDose("9.1", "", 1.0, 1.0)
    folded = fold((_report(same, same, IrradiationDose("", "", 2.0, 2.0)),))
    uids = [r["event_uid"] for r in folded.state.appended["dose_events"]]
    assert len(uids) == len(set(uids)) == 4
    assert uids[:2] == ["", "9.1"]
