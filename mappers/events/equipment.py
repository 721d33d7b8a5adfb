"""The department's devices: seen on the wire, registered, probed, and their downtimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """A DICOM peer spoke to us: what it says about itself (learned into the registry)."""

    ae_title: str
    seen_at: datetime
    station_name: str = ""
    modality: str = ""
    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """What an operator (or the devices file) says about a device: one model for every door
    (the API's PUT body, the devices file, the event below)."""

    host: str = ""
    port: int | None = None
    modality: str = ""
    name: str = ""
    location: str = ""
    monitored: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """An operator (or the devices file) registered a device or changed its registration."""

    ae_title: str
    registration: DeviceRegistration = DeviceRegistration()


@dataclass(frozen=True, slots=True)
class DowntimeDeclared:
    """An operator declared planned or unplanned downtime of a device."""

    ae_title: str
    starts_at: datetime
    ends_at: datetime | None
    planned: bool
    reason: str = ""
    ticket: str = ""


@dataclass(frozen=True, slots=True)
class DowntimeEnded:
    """An operator set the end of a declared downtime."""

    ae_title: str
    downtime_id: int
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceProbed:
    """The prober echoed a device at `at`; `transition` (state, since, reason) when it went
    down or came back up."""

    ae_title: str
    at: datetime
    interval: timedelta
    transition: tuple[str, datetime, str] | None = None
