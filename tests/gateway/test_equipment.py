"""The equipment registry, declared downtime and uptime figures over HTTP, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from fhir.resources.R4B.device import Device as R4BDevice
from sqlalchemy import insert

from store.equipment import device_id
from store.schema import device_transitions, probe_sessions, procedure_steps
from tests.conftest import RunningGateway

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def at(hour: float) -> datetime:
    return DAY.replace(hour=int(hour), minute=int(hour % 1 * 60))


async def call(
    gateway: RunningGateway, method: str, path: str, body: object = None
) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, gateway.http_url + path, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_a_device_is_registered_listed_and_changed(gateway: RunningGateway) -> None:
    """PUT registers a device, GET lists and shows it, a second PUT changes it."""
    body = {
        "host": "10.0.0.5",
        "port": 104,
        "modality": "CT",
        "name": "CT 1",
        "location": "ED",
        "monitored": True,
    }
    status, device = await call(gateway, "PUT", "/api/v1/devices/CT01", body)
    assert status == 200
    assert (device["ae_title"], device["host"], device["port"], device["monitored"]) == (
        "CT01",
        "10.0.0.5",
        104,
        True,
    )
    assert device["state"] == ""  # never probed yet
    status, listed = await call(gateway, "GET", "/api/v1/devices")
    assert [d["ae_title"] for d in listed["items"]] == ["CT01"]
    status, changed = await call(
        gateway, "PUT", "/api/v1/devices/CT01", {**body, "location": "Main", "monitored": False}
    )
    assert (changed["location"], changed["monitored"]) == ("Main", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"port": 70000}, "port"),
        ({"monitored": True}, "monitored"),
        ({"colour": "blue"}, "colour"),
        ({"monitored": "yes"}, "monitored"),
    ],
)
async def test_a_bad_registration_names_the_field(
    gateway: RunningGateway, body: dict, field: str
) -> None:
    """A registration the API cannot take is a 400 naming the field."""
    status, problem = await call(gateway, "PUT", "/api/v1/devices/CT01", body)
    assert status == 400 and problem["detail"].startswith(f"{field}:")


async def test_downtime_is_declared_listed_and_ended(gateway: RunningGateway) -> None:
    """POST declares downtime, GET lists it, PATCH ends it; a bad end is refused."""
    await call(gateway, "PUT", "/api/v1/devices/MR01", {"modality": "MR"})
    status, downtime = await call(
        gateway,
        "POST",
        "/api/v1/devices/MR01/downtime",
        {"start": "2026-03-02T10:00:00Z", "planned": True, "reason": "service", "ticket": "SR-1"},
    )
    assert status == 201 and downtime["ends_at"] is None and downtime["planned"] is True
    status, _ = await call(
        gateway,
        "PATCH",
        f"/api/v1/devices/MR01/downtime/{downtime['id']}",
        {"end": "2026-03-02T09:00:00Z"},
    )
    assert status == 409  # the stored start decides, which no schema can state
    status, ended = await call(
        gateway,
        "PATCH",
        f"/api/v1/devices/MR01/downtime/{downtime['id']}",
        {"end": "2026-03-02T12:00:00+00:00"},
    )
    assert status == 200 and ended["ends_at"] == "2026-03-02T12:00:00+00:00"
    status, listed = await call(gateway, "GET", "/api/v1/devices/MR01/downtime")
    assert [(d["reason"], d["ticket"]) for d in listed["items"]] == [("service", "SR-1")]
    status, _ = await call(
        gateway,
        "POST",
        "/api/v1/devices/NOPE/downtime",
        {"start": "2026-03-02T10:00:00Z", "planned": False},
    )
    assert status == 404


async def test_uptime_figures_equal_the_hand_computed_ones(gateway: RunningGateway) -> None:
    """One day: watched 00-20 (unknown 20-24), probe-down 06-08, planned 10-12, unplanned
    14-15 while echo answered, exams 09-10 and 12:00-12:30: every figure as DESIGN.md."""
    await call(gateway, "PUT", "/api/v1/devices/CT01", {"modality": "CT", "location": "ED"})
    async with gateway.engine.begin() as conn:
        ct = await device_id(conn, "CT01")
        await conn.execute(
            insert(probe_sessions).values(device_id=ct, started_at=at(0), covered_until=at(20))
        )
        for state, when in (("down", at(6)), ("up", at(8))):
            await conn.execute(
                insert(device_transitions).values(
                    device_id=ct, state=state, at=when, reason="", recorded_at=when
                )
            )
        for n, (start, end) in enumerate(((at(9), at(10)), (at(12), at(12.5)))):
            await conn.execute(
                insert(procedure_steps).values(
                    sop_instance_uid=f"1.2.3.{n}",
                    status="COMPLETED",
                    device_id=ct,
                    started_at=start,
                    ended_at=end,
                    created_at=start,
                    updated_at=end,
                )
            )
    for start, end, planned in (("10:00", "12:00", True), ("14:00", "15:00", False)):
        status, _ = await call(
            gateway,
            "POST",
            "/api/v1/devices/CT01/downtime",
            {
                "start": f"2026-03-02T{start}:00Z",
                "end": f"2026-03-02T{end}:00Z",
                "planned": planned,
            },
        )
        assert status == 201

    window = "from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z"
    status, report = await call(gateway, "GET", f"/api/v1/devices/CT01/uptime?{window}")
    assert status == 200
    figures = report["figures"]
    assert figures["window_hours"] == 24
    assert (figures["planned_hours"], figures["down_hours"], figures["unknown_hours"]) == (2, 3, 4)
    assert figures["up_hours"] == 15 and figures["failures"] == 2
    assert figures["availability"] == pytest.approx(1 - 3 / 18)
    assert (figures["mtbf_hours"], figures["mttr_hours"]) == (7.5, 1.5)
    assert figures["busy_hours"] == 1.5
    assert figures["utilization"] == pytest.approx(1.5 / 19)
    assert figures["exams"] == 2
    assert [d["day"] for d in report["daily"]] == ["2026-03-02"]

    status, fleet = await call(
        gateway, "GET", f"/api/v1/equipment/uptime?{window}&group_by=location"
    )
    assert status == 200
    assert [g["key"] for g in fleet["groups"]] == ["ED"]
    assert fleet["fleet"]["figures"]["down_hours"] == 3
    status, problem = await call(gateway, "GET", "/api/v1/equipment/uptime?group_by=colour")
    assert status == 400 and problem["detail"].startswith("group_by:")


async def test_fhir_device_shows_what_the_prober_saw(gateway: RunningGateway) -> None:
    """After the prober recorded CT01 down, FHIR Device says offline (a valid R4 Device)."""
    await call(gateway, "PUT", "/api/v1/devices/CT01", {"modality": "CT"})
    async with gateway.engine.begin() as conn:
        ct = await device_id(conn, "CT01")
        await conn.execute(
            insert(device_transitions).values(
                device_id=ct, state="down", at=at(6), reason="refused", recorded_at=at(6)
            )
        )
    query = "/fhir/Device?identifier=urn:imaging-gateway:ae-title|CT01"
    status, bundle = await call(gateway, "GET", query)
    assert status == 200 and bundle["total"] == 1
    device = bundle["entry"][0]["resource"]
    assert device["statusReason"][0]["coding"][0]["code"] == "offline"
    R4BDevice.model_validate(device)


async def test_an_open_downtime_that_starts_inside_the_window_counts_from_its_start(
    gateway: RunningGateway,
) -> None:
    """Downtime with no end yet, starting on the second day of a three-day window: the days
    before it show none, and the days from it on count it until the window's end."""
    await call(gateway, "PUT", "/api/v1/devices/CT01", {"modality": "CT"})
    status, _ = await call(
        gateway,
        "POST",
        "/api/v1/devices/CT01/downtime",
        {"start": "2026-03-03T12:00:00Z", "planned": True},
    )
    assert status == 201
    window = "from=2026-03-02T00:00:00Z&to=2026-03-05T00:00:00Z"
    for path in ("/api/v1/devices/CT01/uptime", "/api/v1/equipment/uptime"):
        status, report = await call(gateway, "GET", f"{path}?{window}")
        assert status == 200, report
        figures = report["figures"] if "figures" in report else report["fleet"]["figures"]
        assert figures["planned_hours"] == 36
        daily = report["daily"] if "daily" in report else report["fleet"]["daily"]
        assert sum(day["figures"]["planned_hours"] for day in daily) == pytest.approx(36)
        assert daily[0]["figures"]["planned_hours"] == 0
