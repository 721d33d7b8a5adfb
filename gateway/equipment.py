"""Equipment routes: the registry, declared downtime, and uptime and utilization figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from gateway import paging
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, SETTINGS
from gateway.problems import BadRequest, NotFound
from store.equipment import (
    DeviceRegistration,
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

routes = web.RouteTableDef()

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=366)
GROUPS = ("modality", "location")


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


@routes.get("/api/v1/devices")
async def device_list(request: web.Request) -> web.Response:
    """Every device, registered or learned from traffic, with its state now."""
    paging.check_names(request.query, ())
    async with request.app[ENGINE].connect() as conn:
        return json_response({"items": await list_devices(conn)})


@routes.get("/api/v1/devices/{ae_title}")
async def device_detail(request: web.Request) -> web.Response:
    """One device."""
    ae_title = request.match_info["ae_title"]
    async with request.app[ENGINE].connect() as conn:
        device = await get_device(conn, ae_title)
    if device is None:
        raise NotFound(f"no device {ae_title!r}")
    return json_response(device)


@routes.put("/api/v1/devices/{ae_title}")
async def device_put(request: web.Request) -> web.Response:
    """Register a device or change its registration (operator)."""
    ae_title = _ae_title(request)
    registration = _registration(await _body(request))
    await register_device(request.app[INGEST], ae_title, registration, peer=_peer(request))
    async with request.app[ENGINE].connect() as conn:
        device = await get_device(conn, ae_title)
    return json_response(device)


@routes.post("/api/v1/devices/{ae_title}/downtime")
async def downtime_post(request: web.Request) -> web.Response:
    """Declare planned or unplanned downtime (operator)."""
    body = await _body(request)
    _only(body, {"start", "end", "planned", "reason", "ticket"})
    starts_at = _instant(body, "start", required=True)
    ends_at = _instant(body, "end", required=False)
    if ends_at is not None and starts_at is not None and ends_at <= starts_at:
        raise BadRequest("end: must be after start")
    planned = body.get("planned")
    if not isinstance(planned, bool):
        raise BadRequest("planned: required, true or false")
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, request)
    downtime = await declare_downtime(
        request.app[INGEST],
        request.match_info["ae_title"],
        starts_at=starts_at,
        ends_at=ends_at,
        planned=planned,
        reason=_text(body, "reason", 255),
        ticket=_text(body, "ticket", 64),
        peer=_peer(request),
    )
    async with request.app[ENGINE].connect() as conn:
        created = await get_downtime(conn, device, downtime)
    return json_response(created, status=201)


@routes.get("/api/v1/devices/{ae_title}/downtime")
async def downtime_list(request: web.Request) -> web.Response:
    """A device's declared downtime, newest first."""
    paging.check_names(request.query, ())
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, request)
        return json_response({"items": await list_downtimes(conn, device)})


@routes.patch(r"/api/v1/devices/{ae_title}/downtime/{id:\d+}")
async def downtime_end(request: web.Request) -> web.Response:
    """End a declared downtime (operator): body {"end": time}."""
    body = await _body(request)
    _only(body, {"end"})
    ends_at = _instant(body, "end", required=True)
    downtime = int(request.match_info["id"])
    if downtime >= 2**63:
        raise NotFound(f"no downtime {downtime}")
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, request)
        existing = await get_downtime(conn, device, downtime)
    if existing is None:
        raise NotFound(f"no downtime {downtime} for this device")
    if ends_at is not None and ends_at <= existing.starts_at:
        raise BadRequest("end: must be after the downtime's start")
    ae_title = request.match_info["ae_title"]
    await end_downtime(request.app[INGEST], ae_title, downtime, ends_at, peer=_peer(request))
    async with request.app[ENGINE].connect() as conn:
        changed = await get_downtime(conn, device, downtime)
    return json_response(changed)


@routes.get("/api/v1/devices/{ae_title}/uptime")
async def device_uptime(request: web.Request) -> web.Response:
    """A device's availability, downtime, MTBF/MTTR and utilization over a window."""
    paging.check_names(request.query, {"from", "to"})
    window = _window(request)
    async with request.app[ENGINE].connect() as conn:
        device = await _device(conn, request)
        inputs = (await uptime_inputs(conn, [device], window.start, _end(window)))[device]
    tz = request.app[SETTINGS].tz
    report = _report(request.match_info["ae_title"], window, [inputs], tz)
    return json_response(report)


@routes.get("/api/v1/equipment/uptime")
async def fleet_uptime(request: web.Request) -> web.Response:
    """The fleet's figures over a window, per modality or location, with daily series."""
    paging.check_names(request.query, {"from", "to", "group_by"})
    group_by = paging.read_one(request.query, "group_by") or "modality"
    if group_by not in GROUPS:
        raise BadRequest(f"group_by: one of {', '.join(GROUPS)}, not {group_by!r}")
    window = _window(request)
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


# --- parameters and bodies -------------------------------------------------------------------


def _window(request: web.Request) -> Interval:
    start, end = paging.read_range(request.query)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise BadRequest("from: must be before to")
    if end - start > MAX_WINDOW:
        raise BadRequest(f"to: a window is at most {MAX_WINDOW.days} days")
    return Interval(start, end)


def _end(window: Interval) -> datetime:
    assert window.end is not None
    return window.end


async def _device(conn: Any, request: web.Request) -> int:
    ae_title = request.match_info["ae_title"]
    found = await device_id(conn, ae_title)
    if found is None:
        raise NotFound(f"no device {ae_title!r}")
    return found


def _peer(request: web.Request) -> str:
    return request.remote or ""


def _ae_title(request: web.Request) -> str:
    ae_title = request.match_info["ae_title"]
    if not 1 <= len(ae_title) <= 16 or "\\" in ae_title or not ae_title.strip():
        raise BadRequest("ae_title: 1-16 characters, no backslash")
    return ae_title


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body: not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"{unknown[0]}: not a field here (fields: {', '.join(sorted(allowed))})")


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"{name}: a string of at most {limit} characters")
    return value


def _instant(body: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required (RFC 3339 date-time with offset)")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: an RFC 3339 date-time with offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: not an RFC 3339 date-time: {value!r}") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: needs an offset (Z or +hh:mm)")
    return moment.astimezone(UTC)


def _registration(body: dict[str, Any]) -> DeviceRegistration:
    _only(body, {"host", "port", "modality", "name", "location", "monitored"})
    port = body.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise BadRequest("port: an integer 1-65535")
    monitored = body.get("monitored", False)
    if not isinstance(monitored, bool):
        raise BadRequest("monitored: true or false")
    registration = DeviceRegistration(
        host=_text(body, "host", 255),
        port=port,
        modality=_text(body, "modality", 16),
        name=_text(body, "name", 128),
        location=_text(body, "location", 128),
        monitored=monitored,
    )
    if monitored and not (registration.host and registration.port):
        raise BadRequest("monitored: a monitored device needs host and port")
    return registration
