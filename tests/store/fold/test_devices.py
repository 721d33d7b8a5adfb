"""Devices learned from traffic: known facts kept, first and last seen widened."""

from __future__ import annotations

from mappers.events import DeviceSeen
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def test_a_device_learns_facts_and_widens_its_seen_times() -> None:
    """An empty model does not erase a known one; first and last seen span both sightings."""
    folded = fold(
        (DeviceSeen("CT1", at(10), model="X1"),),
        (DeviceSeen("CT1", at(5), manufacturer="ACME"),),
    )
    row = folded.state.get("devices", "CT1")
    assert (row["model"], row["manufacturer"]) == ("X1", "ACME")
    assert (row["first_seen_at"], row["last_seen_at"]) == (at(5), at(10))
