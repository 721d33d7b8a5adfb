"""Patients: the newest demographics win, empty values erase nothing, merges resolve."""

from __future__ import annotations

from mappers.events import (
    OrderDetails,
    OrderPlaced,
    PatientId,
    PatientsMerged,
    PatientUpserted,
    PersonName,
)
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at

P1, P2 = PatientId("M1", "H"), PatientId("M2", "H")


def test_an_older_message_does_not_overwrite_newer_demographics() -> None:
    """Demographics come from the message with the latest own time, whatever arrives last."""
    folded = fold(
        (PatientUpserted(P1, PersonName("New"), None, "F", at(10)),),
        (PatientUpserted(P1, PersonName("Old"), None, "M", at(5)),),
    )
    row = folded.state.get("patients", ("M1", "H"))
    assert (row["family_name"], row["sex"], row["demographics_at"]) == ("New", "F", at(10))


def test_an_empty_value_does_not_erase_a_known_one() -> None:
    """A newer message without a sex keeps the sex known before."""
    folded = fold(
        (PatientUpserted(P1, PersonName("Doe"), None, "F", at(1)),),
        (PatientUpserted(P1, PersonName("Doe"), None, "", at(2)),),
    )
    assert folded.state.get("patients", ("M1", "H"))["sex"] == "F"


def test_a_merge_moves_orders_and_later_messages_resolve_to_the_survivor() -> None:
    """After ADT^A40 the merged identifier's orders, old and new, belong to the survivor."""
    folded = fold(
        (OrderPlaced("A1", P2, OrderDetails(), at(1)),),
        (PatientsMerged(P1, P2, at(2)),),
        (OrderPlaced("A2", P2, OrderDetails(), at(3)),),
    )
    state = folded.state
    assert state.get("patients", ("M2", "H"))["merged_into"] == ("M1", "H")
    assert [state.get("orders", a)["patient"] for a in ("A1", "A2")] == [("M1", "H")] * 2
