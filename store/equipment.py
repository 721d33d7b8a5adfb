"""The equipment registry, what the prober saw, declared downtime, and uptime inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from store.schema import (
    device_transitions,
    devices,
    downtimes,
    probe_sessions,
    procedure_steps,
    studies,
)

UP, DOWN = "up", "down"


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as the API shows it: registered and learned facts, and its state now."""

    ae_title: str
    host: str
    port: int | None
    modality: str
    name: str
    location: str
    monitored: bool
    station_name: str
    manufacturer: str
    model: str
    serial_number: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    state: str  # up, down, or "" when never probed
    state_since: datetime | None


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """A monitored device the prober echoes."""

    device_id: int
    ae_title: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class DowntimeView:
    """Declared downtime."""

    id: int
    ae_title: str
    starts_at: datetime
    ends_at: datetime | None
    planned: bool
    reason: str
    ticket: str


@dataclass(frozen=True, slots=True)
class UptimeInputs:
    """Everything the uptime figures of one device need, within a window."""

    sessions: tuple[tuple[datetime, datetime], ...]
    transitions: tuple[tuple[datetime, str], ...]  # every transition up to the window's end
    downtimes: tuple[DowntimeView, ...]
    busy: tuple[tuple[datetime, datetime], ...]  # one interval per exam


_DEVICE_COLUMNS = [
    devices.c.ae_title,
    devices.c.host,
    devices.c.port,
    devices.c.modality,
    devices.c.name,
    devices.c.location,
    devices.c.monitored,
    devices.c.station_name,
    devices.c.manufacturer,
    devices.c.model,
    devices.c.serial_number,
    devices.c.first_seen_at,
    devices.c.last_seen_at,
]


def _device_query() -> Select:
    latest = (
        select(
            device_transitions.c.device_id,
            func.max(device_transitions.c.id).label("last_id"),
        )
        .group_by(device_transitions.c.device_id)
        .subquery()
    )
    return (
        select(*_DEVICE_COLUMNS, device_transitions.c.state, device_transitions.c.at)
        .select_from(
            devices.outerjoin(latest, latest.c.device_id == devices.c.id).outerjoin(
                device_transitions, device_transitions.c.id == latest.c.last_id
            )
        )
        .order_by(devices.c.ae_title)
    )


def _view(row: Row) -> DeviceView:
    values = dict(row._mapping)
    state, since = values.pop("state"), values.pop("at")
    return DeviceView(**values, state=state or "", state_since=since)


async def list_devices(conn: AsyncConnection) -> list[DeviceView]:
    """Every device, registered or learned, with its state now (one statement)."""
    return [_view(row) for row in await conn.execute(_device_query())]


async def get_device(conn: AsyncConnection, ae_title: str) -> DeviceView | None:
    """One device by AE title."""
    row = (await conn.execute(_device_query().where(devices.c.ae_title == ae_title))).first()
    return _view(row) if row is not None else None


async def probe_targets(conn: AsyncConnection) -> list[ProbeTarget]:
    """The monitored devices with an address to echo."""
    rows = await conn.execute(
        select(devices.c.id, devices.c.ae_title, devices.c.host, devices.c.port)
        .where(devices.c.monitored.is_(True), devices.c.host != "", devices.c.port.is_not(None))
        .order_by(devices.c.ae_title)
    )
    return [ProbeTarget(*row) for row in rows]


async def current_states(conn: AsyncConnection) -> dict[int, str]:
    """Each probed device's last recorded state (for a prober that restarts)."""
    latest = (
        select(func.max(device_transitions.c.id))
        .group_by(device_transitions.c.device_id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(device_transitions.c.device_id, device_transitions.c.state).where(
            device_transitions.c.id.in_(latest)
        )
    )
    return {device_id: state for device_id, state in rows}


async def device_id(conn: AsyncConnection, ae_title: str) -> int | None:
    """The row id of a device."""
    return (await conn.execute(select(devices.c.id).where(devices.c.ae_title == ae_title))).scalar()


def _downtime_query() -> Select:
    return select(
        downtimes.c.id,
        devices.c.ae_title,
        downtimes.c.starts_at,
        downtimes.c.ends_at,
        downtimes.c.planned,
        downtimes.c.reason,
        downtimes.c.ticket,
    ).select_from(downtimes.join(devices, downtimes.c.device_id == devices.c.id))


async def get_downtime(conn: AsyncConnection, device: int, downtime_id: int) -> DowntimeView | None:
    """One declared downtime of a device."""
    row = (
        await conn.execute(
            _downtime_query().where(downtimes.c.id == downtime_id, downtimes.c.device_id == device)
        )
    ).first()
    return DowntimeView(**row._mapping) if row is not None else None


async def list_downtimes(conn: AsyncConnection, device: int) -> list[DowntimeView]:
    """A device's declared downtime, newest first."""
    rows = await conn.execute(
        _downtime_query()
        .where(downtimes.c.device_id == device)
        .order_by(downtimes.c.starts_at.desc(), downtimes.c.id.desc())
    )
    return [DowntimeView(**row._mapping) for row in rows]


async def uptime_inputs(
    conn: AsyncConnection, device_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, UptimeInputs]:
    """The sessions, transitions, downtime, busy time and exams of devices in [start, end):
    five statements whatever the number of devices."""
    ids = list(device_ids)
    sessions = await conn.execute(
        select(
            probe_sessions.c.device_id, probe_sessions.c.started_at, probe_sessions.c.covered_until
        )
        .where(
            probe_sessions.c.device_id.in_(ids),
            probe_sessions.c.started_at < end,
            probe_sessions.c.covered_until > start,
        )
        .order_by(probe_sessions.c.started_at)
    )
    transitions = await conn.execute(
        select(device_transitions.c.device_id, device_transitions.c.at, device_transitions.c.state)
        .where(device_transitions.c.device_id.in_(ids), device_transitions.c.at < end)
        .order_by(device_transitions.c.at, device_transitions.c.id)
    )
    declared = await conn.execute(
        _downtime_query()
        .add_columns(downtimes.c.device_id)
        .where(
            downtimes.c.device_id.in_(ids),
            downtimes.c.starts_at < end,
            (downtimes.c.ends_at.is_(None)) | (downtimes.c.ends_at > start),
        )
    )
    steps = await conn.execute(
        select(
            procedure_steps.c.device_id,
            procedure_steps.c.started_at,
            procedure_steps.c.ended_at,
            procedure_steps.c.study_instance_uid,
        ).where(
            procedure_steps.c.device_id.in_(ids),
            procedure_steps.c.started_at < end,
            procedure_steps.c.ended_at > start,
            procedure_steps.c.status == "COMPLETED",
        )
    )
    # Studies with no MPPS count busy from their first to their last image.
    without_mpps = (
        ~select(procedure_steps.c.id)
        .where(and_(procedure_steps.c.study_instance_uid == studies.c.study_instance_uid))
        .exists()
    )
    images = await conn.execute(
        select(studies.c.device_id, studies.c.first_instance_at, studies.c.last_instance_at).where(
            studies.c.device_id.in_(ids),
            studies.c.first_instance_at < end,
            studies.c.last_instance_at >= start,
            without_mpps,
        )
    )
    gathered: dict[int, dict[str, list]] = {
        i: {"sessions": [], "transitions": [], "downtimes": [], "busy": []} for i in ids
    }
    for device, started, until in sessions:
        gathered[device]["sessions"].append((started, until))
    for device, at, state in transitions:
        gathered[device]["transitions"].append((at, state))
    for row in declared:
        values = dict(row._mapping)
        gathered[values.pop("device_id")]["downtimes"].append(DowntimeView(**values))
    for device, started, ended, _uid in steps:
        gathered[device]["busy"].append((started, ended))
    for device, first, last in images:
        gathered[device]["busy"].append((first, max(last, first + timedelta(seconds=1))))
    return {
        device: UptimeInputs(
            sessions=tuple(parts["sessions"]),
            transitions=tuple(parts["transitions"]),
            downtimes=tuple(parts["downtimes"]),
            busy=tuple(parts["busy"]),
        )
        for device, parts in gathered.items()
    }


async def device_ids(conn: AsyncConnection) -> dict[str, int]:
    """Every device's row id by AE title (one statement)."""
    rows = await conn.execute(select(devices.c.ae_title, devices.c.id))
    return {ae_title: row_id for ae_title, row_id in rows}
