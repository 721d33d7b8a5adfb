"""The equipment registry: registrations keep learned facts; downtime and probes need a device."""

from __future__ import annotations

from datetime import timedelta

from mappers.events import (
    DeviceProbed,
    DeviceRegistered,
    DeviceRegistration,
    DeviceSeen,
    DowntimeDeclared,
    DowntimeEnded,
)
from store.errors import EventRejected, Rejection
from store.fold.batch import Folding, fold_batch
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at

MINUTE = timedelta(minutes=1)


def test_a_registration_keeps_what_the_device_said_about_itself() -> None:
    """Registering after traffic changes the address, not the manufacturer learned."""
    folded = fold(
        (DeviceSeen("CT1", at(0), manufacturer="ACME"),),
        (DeviceRegistered("CT1", DeviceRegistration(host="10.0.0.5", port=104, monitored=True)),),
    )
    row = folded.state.get("devices", "CT1")
    assert (row["manufacturer"], row["host"], row["port"], row["monitored"]) == (
        "ACME",
        "10.0.0.5",
        104,
        True,
    )


def test_downtime_for_an_unknown_device_is_refused_alone() -> None:
    """Declaring downtime needs a device; the registration beside it stays."""
    folded = fold(
        (DowntimeDeclared("XR9", at(0), None, planned=True),),
        (DeviceRegistered("XR9"),),
        (DowntimeDeclared("XR9", at(0), at(60), planned=False, reason="tube"),),
    )
    refused = folded.refusals[0]
    assert isinstance(refused, EventRejected) and refused.kind is Rejection.UNKNOWN_INSTANCE
    assert folded.refusals[1:] == [None, None]
    (made,) = folded.state.appended["made"]
    assert folded.state.get("downtimes", made["key"])["reason"] == "tube"


def test_ending_a_downtime_of_another_device_is_refused() -> None:
    """A downtime id is ended only through the device it belongs to."""
    folded = fold(
        (DeviceRegistered("CT1"), DeviceRegistered("CT2")),
        (DowntimeDeclared("CT1", at(0), None, planned=True),),
    )
    key = folded.state.appended["made"][0]["key"]
    again = fold_batch(
        folded.state.tables, [Folding(3, (DowntimeEnded("CT2", key, at(9)),))], folded.state.now
    )
    assert isinstance(again.refusals[0], EventRejected)


def test_probes_extend_one_session_until_a_gap() -> None:
    """Probes a minute apart extend the session; after a longer gap a new one starts."""
    folded = fold(
        (DeviceRegistered("CT1"),),
        (DeviceProbed("CT1", at(0), MINUTE),),
        (DeviceProbed("CT1", at(1), MINUTE, ("down", at(1), "no answer")),),
        (DeviceProbed("CT1", at(10), MINUTE),),
    )
    sessions = sorted(
        (row["started_at"], row["covered_until"]) for _, row in folded.state.rows("probe_sessions")
    )
    assert sessions == [(at(0), at(2)), (at(10), at(11))]
    assert [t["state"] for t in folded.state.appended["device_transitions"]] == ["down"]
