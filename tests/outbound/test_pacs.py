"""PACS reconciliation: a STUDY-level C-FIND to a stand-in PACS (a pynetdicom C-FIND SCP),
and the pure comparison of what it holds with the orders that should have images."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date

import pytest

from outbound.pacs import (
    ExpectedStudy,
    PacsPeer,
    PacsStudy,
    PacsUnreachable,
    find_studies,
    reconcile,
    study_query,
)
from tests.support.stand_in_pacs import StandInPacs


def _held(uid: str, accession: str, day: str = "20261201") -> PacsStudy:
    return PacsStudy(uid, accession, "MRN1", day, ("CT",))


def test_orders_meet_their_studies_by_uid_then_by_accession() -> None:
    """By Study Instance UID first, by Accession Number when the UIDs differ; the rest are
    missing from the PACS or unordered in it."""
    expected = [
        ExpectedStudy("ACC1", "1.2.1", "MRN1"),  # same UID
        ExpectedStudy("ACC2", "1.2.2", "MRN1"),  # the PACS has another UID, same accession
        ExpectedStudy("ACC3", "1.2.3", "MRN1"),  # not in the PACS
    ]
    held = [_held("1.2.1", "ACC1"), _held("9.9.2", "ACC2"), _held("9.9.9", "OTHER")]
    result = reconcile(expected, held)
    assert [o.accession for o in result.missing] == ["ACC3"]
    assert [s.study_instance_uid for s in result.unordered] == ["9.9.9"]


def test_nothing_expected_and_nothing_held_is_clean() -> None:
    """No orders and an empty PACS: no finding."""
    result = reconcile([], [])
    assert (result.missing, result.unordered) == ((), ())


@pytest.fixture
def pacs() -> Iterator[StandInPacs]:
    """A stand-in PACS holding two studies of 1 December and one of 20 November."""
    held = [_held("1.2.1", "ACC1"), _held("1.2.9", "ACC9"), _held("1.2.5", "OLD", "20261120")]
    stand_in = StandInPacs(held)
    yield stand_in
    stand_in.close()


def test_the_pacs_answers_the_studies_of_the_window(pacs: StandInPacs) -> None:
    """A STUDY-level query for a date range; the studies of that range come back whole."""
    found = find_studies(pacs.peer, "IMAGING_GW", date(2026, 12, 1), date(2026, 12, 2))
    assert sorted(s.study_instance_uid for s in found) == ["1.2.1", "1.2.9"]
    assert found[0].modalities == ("CT",) and found[0].patient_id == "MRN1"
    (query,) = pacs.queries
    assert (query.QueryRetrieveLevel, query.StudyDate) == ("STUDY", "20261201-20261202")
    expected = [ExpectedStudy("ACC1", "1.2.1", "MRN1"), ExpectedStudy("ACC2", "1.2.2", "MRN2")]
    result = reconcile(expected, found)
    assert ([o.accession for o in result.missing], [s.accession for s in result.unordered]) == (
        ["ACC2"],
        ["ACC9"],
    )


def test_a_pacs_that_does_not_answer_is_a_finding_not_a_crash() -> None:
    """Nothing listening, and a PACS answering a failure: PacsUnreachable, saying why."""
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        peer = PacsPeer("127.0.0.1", closed.getsockname()[1], "PACS")
        with pytest.raises(PacsUnreachable, match=r"no association|connection"):
            find_studies(peer, "IMAGING_GW", date(2026, 12, 1), date(2026, 12, 1), timeout=2)
    failing = StandInPacs([], status=0xC000)
    try:
        with pytest.raises(PacsUnreachable, match="0xC000"):
            find_studies(failing.peer, "IMAGING_GW", date(2026, 12, 1), date(2026, 12, 1))
    finally:
        failing.close()


def test_the_study_query_asks_for_what_reconciliation_needs() -> None:
    """STUDY level, a date range, and the keys compared."""
    query = study_query(date(2026, 11, 30), date(2026, 12, 1))
    assert query.StudyDate == "20261130-20261201"
    assert {"StudyInstanceUID", "AccessionNumber", "PatientID", "ModalitiesInStudy"} <= set(
        query.dir()
    )
