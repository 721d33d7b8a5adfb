"""Equipment routes: the registry, declared downtime, and uptime and utilization figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.contract.registry import Routes
from gateway.contract.types import to_utc
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, SETTINGS
from gateway.models.devices import Registration
from gateway.models.equipment import (
    MAX_WINDOW_DAYS,
    DeviceList,
    DevicePath,
    DowntimeBody,
    DowntimeEnd,
    DowntimeList,
    DowntimePath,
    FleetQuery,
    WindowQuery,
)
from gateway.problems import BadRequest, Conflict, NotFound
from store.equipment import (
    DeviceView,
    DowntimeView,
    UptimeInputs,
    device_id,
    device_ids,
    get_device,
    get_downtime,
    list_devices,
    list_downtimes,
    uptime_inputs,
)
from store.operations import declare_downtime, end_downtime, register_device
from store.uptime import (
    DeviceFigures,
    Interval,
    daily_windows,
    device_figures,
    fleet_figures,
    observed_intervals,
)

DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day of a chart series."""

    day: str
    figures: DeviceFigures


@dataclass(frozen=True, slots=True)
class UptimeReport:
    """A device's (or a group's) figures over the window, with a daily series."""

    key: str
    window_start: datetime
    window_end: datetime
    figures: DeviceFigures
    daily: tuple[DayFigures, ...]


@dataclass(frozen=True, slots=True)
class FleetReport:
    """The fleet's figures per group and in all."""

    group_by: str
    groups: tuple[UptimeReport, ...]
    fleet: UptimeReport


routes = Routes()


@routes.get(
    "/api/v1/devices",
    summary="Every device, registered or learned, with its state.",
    response=DeviceList,
)
async def device_list(request: web.Request) -> web.Response:
    """Every device, registered or learned from traffic, with its state now."""
    async with request.app[ENGINE].connect() as conn:
        return json_response({"items": await list_devices(conn)})


@routes.get(
    "/api/v1/devices/{ae_title}",
    summary="One device.",
    path_params=DevicePath,
    response=DeviceView,
    errors=(400, 404),
)
async def device_detail(request: web.Request, path: DevicePath) -> web.Response:
    """One device."""
    async with request.app[ENGINE].connect() as conn:
        device = await get_device(conn, path.ae_title)
    if device is None:
        raise NotFound(f"no device {path.ae_title!r}")
    return json_response(device)


@routes.put(
    "/api/v1/devices/{ae_title}",
    summary="Register a device or change it (operator).",
    path_params=DevicePath,
    body=Registration,
    response=DeviceView,
    errors=(400,),
)
async def device_put(request: web.Request, path: DevicePath, body: Registration) -> web.Response:
    """Register a device or change its registration (operator)."""
    await register_device(
        request.app[INGEST], path.ae_title, body.to_registration(), peer=request.remote or ""
    )
    async with request.app[ENGINE].connect() as conn:
        device = await get_device(conn, path.ae_title)
    return json_response(device)


@routes.post(
    "/api/v1/devices/{ae_title}/downtime",
    summary="Declare planned or unplanned downtime (operator).",
    description="`end`, when given, must be after `start` (400 naming `end` otherwise).",
    path_params=DevicePath,
    body=DowntimeBody,
    response=DowntimeView,
    status=201,
    errors=(400, 404),
)
async def downtime_post(request: web.Request, path: DevicePath, body: DowntimeBody) -> web.Response:
    """Declare planned or unplanned downtime (operator)."""
    if body.end is not None and body.end <= body.start:
        raise BadRequest("end: must be after start")
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, path.ae_title)
    downtime = await declare_downtime(
        request.app[INGEST],
        path.ae_title,
        starts_at=body.start,
        ends_at=body.end,
        planned=body.planned,
        reason=body.reason,
        ticket=body.ticket,
        peer=request.remote or "",
    )
    async with request.app[ENGINE].connect() as conn:
        created = await get_downtime(conn, device, downtime)
    return json_response(created, status=201)


@routes.get(
    "/api/v1/devices/{ae_title}/downtime",
    summary="A device's declared downtime, newest first.",
    path_params=DevicePath,
    response=DowntimeList,
    errors=(400, 404),
)
async def downtime_list(request: web.Request, path: DevicePath) -> web.Response:
    """A device's declared downtime, newest first."""
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, path.ae_title)
        return json_response({"items": await list_downtimes(conn, device)})


@routes.patch(
    "/api/v1/devices/{ae_title}/downtime/{id}",
    summary="End a declared downtime (operator).",
    description="An end not after the downtime's start is answered 409.",
    path_params=DowntimePath,
    body=DowntimeEnd,
    response=DowntimeView,
    errors=(400, 404, 409),
)
async def downtime_end(request: web.Request, path: DowntimePath, body: DowntimeEnd) -> web.Response:
    """End a declared downtime (operator): body {"end": time}."""
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, path.ae_title)
        existing = await get_downtime(conn, device, path.id)
    if existing is None:
        raise NotFound(f"no downtime {path.id} for this device")
    if body.end <= existing.starts_at:
        raise Conflict("end: must be after the downtime's start")
    await end_downtime(
        request.app[INGEST], path.ae_title, path.id, body.end, peer=request.remote or ""
    )
    async with request.app[ENGINE].connect() as conn:
        changed = await get_downtime(conn, device, path.id)
    return json_response(changed)


@routes.get(
    "/api/v1/devices/{ae_title}/uptime",
    summary="Availability, downtime, failures, MTBF/MTTR and utilization over a window.",
    path_params=DevicePath,
    query=WindowQuery,
    response=UptimeReport,
    errors=(400, 404),
)
async def device_uptime(request: web.Request, path: DevicePath, query: WindowQuery) -> web.Response:
    """A device's availability, downtime, MTBF/MTTR and utilization over a window."""
    window = _window(query)
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, path.ae_title)
        inputs = (await uptime_inputs(conn, [device], window.start, _end(window)))[device]
    report = _report(path.ae_title, window, [inputs], request.app[SETTINGS].tz)
    return json_response(report)


@routes.get(
    "/api/v1/equipment/uptime",
    summary="The fleet's figures per modality or location, with daily series.",
    query=FleetQuery,
    response=FleetReport,
    errors=(400,),
)
async def fleet_uptime(request: web.Request, query: FleetQuery) -> web.Response:
    """The fleet's figures over a window, per modality or location, with daily series."""
    group_by = query.group_by
    window = _window(query)
    async with request.app[ENGINE].connect() as conn:
        fleet = await list_devices(conn)
        ids = await device_ids(conn)
        inputs = await uptime_inputs(conn, list(ids.values()), window.start, _end(window))
    groups: dict[str, list[UptimeInputs]] = {}
    for device in fleet:
        key = getattr(device, group_by)
        groups.setdefault(key, []).append(inputs[ids[device.ae_title]])
    tz = request.app[SETTINGS].tz
    reports = [_report(key, window, members, tz) for key, members in sorted(groups.items())]
    everything = [member for members in groups.values() for member in members]
    return json_response(
        {"group_by": group_by, "groups": reports, "fleet": _report("", window, everything, tz)}
    )


# --- figures from what the store holds ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DeviceIntervals:
    """What one device's rows say, as intervals over the whole report; each span clips them."""

    up: list[Interval]
    down: list[Interval]
    planned: list[Interval]
    unplanned: list[Interval]
    busy: list[Interval]
    exam_starts: list[datetime]


def _intervals(inputs: UptimeInputs, until: datetime) -> _DeviceIntervals:
    up, down = observed_intervals(inputs.sessions, inputs.transitions)
    # Downtime with no end yet lasts to the end of the report (every one read starts before
    # it); a day of the report clips it like any other interval.
    declared = [(Interval(d.starts_at, d.ends_at or until), d.planned) for d in inputs.downtimes]
    return _DeviceIntervals(
        up=up,
        down=down,
        planned=[i for i, planned in declared if planned],
        unplanned=[i for i, planned in declared if not planned],
        busy=[Interval(start, end) for start, end in inputs.busy if end > start],
        exam_starts=[start for start, _ in inputs.busy],
    )


def _figures(span: Interval, device: _DeviceIntervals) -> DeviceFigures:
    end = _end(span)
    return device_figures(
        span,
        observed_up=device.up,
        observed_down=device.down,
        planned=device.planned,
        unplanned=device.unplanned,
        busy=device.busy,
        exams=sum(1 for start in device.exam_starts if span.start <= start < end),
    )


def _report(key: str, window: Interval, members: list[UptimeInputs], tz: Any) -> UptimeReport:
    intervals = [_intervals(inputs, _end(window)) for inputs in members]

    def over(span: Interval) -> DeviceFigures:
        return fleet_figures([_figures(span, device) for device in intervals])

    daily = tuple(
        DayFigures(day.start.astimezone(tz).date().isoformat(), over(day))
        for day in daily_windows(window, tz)
    )
    return UptimeReport(key, window.start, _end(window), over(window), daily)


# --- parameters ----------------------------------------------------------------------------


def _window(query: WindowQuery) -> Interval:
    end = query.to or datetime.now(UTC)
    try:
        start = query.from_ or end - DEFAULT_WINDOW
    except OverflowError:
        start = to_utc(datetime.min.replace(tzinfo=UTC))
    if start >= end:
        raise BadRequest("from: must be before to")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise BadRequest(f"to: a window is at most {MAX_WINDOW_DAYS} days")
    return Interval(start, end)


def _end(window: Interval) -> datetime:
    assert window.end is not None
    return window.end


async def _device(conn: Any, ae_title: str) -> int:
    found = await device_id(conn, ae_title)
    if found is None:
        raise NotFound(f"no device {ae_title!r}")
    return found
