"""Devices learned from traffic: what a peer says about itself fills what is not known yet."""

from __future__ import annotations

from datetime import datetime

from mappers.events import DeviceSeen
from store.fold.state import Row, State

_LEARNED = ("station_name", "modality", "manufacturer", "model", "serial_number")


def new_device(ae_title: str, now: datetime) -> Row:
    """A device known by its AE title alone."""
    return {
        "id": None,
        "ae_title": ae_title,
        **dict.fromkeys(_LEARNED, ""),
        "name": "",
        "location": "",
        "host": "",
        "port": None,
        "monitored": False,
        "first_seen_at": None,
        "last_seen_at": None,
        "created_at": now,
        "updated_at": now,
    }


def see_device(state: State, event: DeviceSeen, message_id: int | None) -> None:
    """Learn a device: non-empty facts replace, first and last seen widen."""
    row = state.get("devices", event.ae_title) or new_device(event.ae_title, state.now)
    changes: Row = {name: getattr(event, name) for name in _LEARNED if getattr(event, name)}
    if row["first_seen_at"] is None or event.seen_at < row["first_seen_at"]:
        changes["first_seen_at"] = event.seen_at
    if row["last_seen_at"] is None or event.seen_at > row["last_seen_at"]:
        changes["last_seen_at"] = event.seen_at
    changes["updated_at"] = state.now
    state.put("devices", event.ae_title, {**row, **changes})


def known_device(state: State, ae_title: str) -> str | None:
    """The AE title as a reference, when such a device is known."""
    return ae_title if ae_title and state.get("devices", ae_title) is not None else None
