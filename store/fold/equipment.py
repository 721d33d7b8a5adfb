"""The equipment registry: registrations, declared downtime, and what the prober saw."""

from __future__ import annotations

from dataclasses import asdict

from mappers.events import DeviceProbed, DeviceRegistered, DowntimeDeclared, DowntimeEnded
from store.errors import EventRejected, Rejection
from store.fold.devices import new_device
from store.fold.outbox import DEVICE_DOWN, DEVICE_UP, device_key, notify
from store.fold.state import State


def register_device(state: State, event: DeviceRegistered, message_id: int | None) -> None:
    """Take the registration as given; what the device said about itself is kept."""
    row = state.get("devices", event.ae_title) or new_device(event.ae_title, state.now)
    state.put(
        "devices",
        event.ae_title,
        {
            **row,
            **asdict(event.registration),
            "updated_at": state.now,
        },
    )


def declare_downtime(state: State, event: DowntimeDeclared, message_id: int | None) -> None:
    """Keep the declared downtime; the sender learns its id.

    Raises:
        EventRejected: no such device.
    """
    _device(state, event.ae_title)
    key = state.new_key()
    state.put(
        "downtimes",
        key,
        {
            "id": None,
            "device": event.ae_title,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "planned": event.planned,
            "reason": event.reason,
            "ticket": event.ticket,
            "created_at": state.now,
            "updated_at": state.now,
        },
    )
    state.append("made", {"message_id": message_id, "table": "downtimes", "key": key})


def end_downtime(state: State, event: DowntimeEnded, message_id: int | None) -> None:
    """Set the end of a declared downtime.

    Raises:
        EventRejected: no such downtime for this device.
    """
    row = state.get("downtimes", event.downtime_id)
    if row is None or row["device"] != event.ae_title:
        raise EventRejected(Rejection.UNKNOWN_INSTANCE, f"no downtime {event.downtime_id}")
    state.change("downtimes", event.downtime_id, ends_at=event.ends_at, updated_at=state.now)


def record_probe(state: State, event: DeviceProbed, message_id: int | None) -> None:
    """Extend what the prober has watched by this probe, and keep a transition if any.

    A probe covers [at, at + interval). A gap longer than the interval since the last
    probe's cover (the gateway was not running) starts a new session: the gap stays unknown.

    Raises:
        EventRejected: no such device.
    """
    _device(state, event.ae_title)
    sessions = [
        (row["covered_until"], key)
        for key, row in state.rows("probe_sessions")
        if row["device"] == event.ae_title
    ]
    last = max(sessions, key=lambda s: s[0]) if sessions else None
    if last is not None and event.at - last[0] <= event.interval:
        state.change("probe_sessions", last[1], covered_until=event.at + event.interval)
    else:
        state.put(
            "probe_sessions",
            state.new_key(),
            {
                "id": None,
                "device": event.ae_title,
                "started_at": event.at,
                "covered_until": event.at + event.interval,
            },
        )
    if event.transition is not None:
        up_or_down, since, reason = event.transition
        state.append(
            "device_transitions",
            {
                "device": event.ae_title,
                "state": up_or_down,
                "at": since,
                "reason": reason[:255],
                "recorded_at": state.now,
            },
        )
        notify(
            state,
            DEVICE_DOWN if up_or_down == "down" else DEVICE_UP,
            device_key(event.ae_title),
            since,
            {"ae_title": event.ae_title, "at": since, "reason": reason[:255]},
        )


def _device(state: State, ae_title: str) -> None:
    if state.get("devices", ae_title) is None:
        raise EventRejected(Rejection.UNKNOWN_INSTANCE, f"no device {ae_title}")
