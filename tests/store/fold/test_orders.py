"""Orders: placeholders, the newest details, and what came before the order."""

from __future__ import annotations

from mappers.events import (
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientId,
)
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at

P1 = PatientId("M1", "H")


def test_a_cancel_before_its_order_is_kept_on_a_placeholder() -> None:
    """A milestone for an unknown accession makes the order; the order message completes it."""
    folded = fold(
        (MilestoneReached("A1", Milestone.CANCELLED, at(5)),),
        (OrderPlaced("A1", P1, OrderDetails(modality="CT"), at(1)),),
    )
    row = folded.state.get("orders", "A1")
    assert (row["status"], row["modality"], row["ordered_at"]) == ("cancelled", "CT", at(1))


def test_older_details_do_not_overwrite_newer_ones() -> None:
    """An order change older than the details kept changes nothing."""
    folded = fold(
        (OrderPlaced("A1", P1, OrderDetails(priority="S"), at(5)),),
        (OrderChanged("A1", P1, OrderDetails(priority="R"), at(1)),),
    )
    assert folded.state.get("orders", "A1")["priority"] == "S"


def test_an_arrival_before_the_order_marks_it_when_placed() -> None:
    """ADT^A10 first, the order within a day after: the order is arrived at the A10 time."""
    folded = fold(
        (PatientArrived(P1, at(0)),),
        (OrderPlaced("A1", P1, OrderDetails(), at(60)),),
    )
    row = folded.state.get("orders", "A1")
    assert (row["arrived_at"], row["status"]) == (at(0), "arrived")


def test_stations_from_ipc_9_stay_until_an_order_message_names_others() -> None:
    """IPC-9's stations are kept; a change without IPC keeps them, one with IPC replaces them."""
    placed = OrderDetails(stations=("CT01", "CT02"), station_name="CT A", scheduled_step_id="S1")
    folded = fold(
        (OrderPlaced("A1", P1, placed, at(1)),),
        (OrderChanged("A1", P1, OrderDetails(priority="S"), at(2)),),
    )
    row = folded.state.get("orders", "A1")
    stations = (row["scheduled_stations"], row["scheduled_station_name"], row["scheduled_step_id"])
    assert stations == ("CT01\\CT02", "CT A", "S1")
    folded = fold(
        (OrderPlaced("A1", P1, placed, at(1)),),
        (OrderChanged("A1", P1, OrderDetails(stations=("CT03",)), at(2)),),
    )
    assert folded.state.get("orders", "A1")["scheduled_stations"] == "CT03"
