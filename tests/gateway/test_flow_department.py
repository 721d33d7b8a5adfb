"""The patient-flow routes (volumes, board, unmatched, link, bad parameters) with a real
client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from mappers.events import (
    Milestone,
    ReportStatus,
)
from tests.conftest import RunningGateway
from tests.gateway.flow_department import (
    BERLIN,
    arrive,
    at,
    call,
    device,
    flow_gateway,
    get,
    image,
    load_department,
    milestone,
    place,
    report,
    schedule,
    step,
)


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    """A running gateway in Berlin time with the flow routes and goals of these tests."""
    async with flow_gateway(database_url) as running:
        yield running


async def test_volumes_per_local_day_and_hour(gateway: RunningGateway) -> None:
    """Ordered, performed, reported, cancelled and no-shows land in their local buckets."""
    await load_department(gateway)

    def volume(bucket: str, group: str | None, *counts: int) -> dict[str, Any]:
        names = ("ordered", "performed", "reported", "cancelled", "no_shows")
        return {"bucket": bucket, "group": group, **dict(zip(names, counts, strict=True))}

    days = await get(
        gateway,
        "/api/v1/flow/volumes",
        {
            "from": "2026-11-16T00:00:00+01:00",
            "to": "2026-11-18T00:00:00+01:00",
            "group_by": "modality",
        },
    )
    assert days["interval"] == "day" and days["next_cursor"] is None
    assert days["items"] == [
        # CT: O1 O2 O3 O5 O6 O9 ordered; O1 O2 O3 O5 done; O1 O2 O8 reported; O6; O9.
        volume("2026-11-16T00:00:00+01:00", "CT", 6, 4, 3, 1, 1),
        # MR: O4 and O10 ordered; O4 completed, O10 performed by its images (no MPPS).
        volume("2026-11-16T00:00:00+01:00", "MR", 2, 2, 0, 0, 0),
        volume("2026-11-17T00:00:00+01:00", "CT", 0, 0, 1, 0, 0),  # O3's final
        volume("2026-11-17T00:00:00+01:00", "MR", 0, 0, 1, 0, 0),  # O4's final, 00:30 local
    ]
    hours = await get(
        gateway,
        "/api/v1/flow/volumes",
        {"from": "2026-11-16T08:00:00Z", "to": "2026-11-16T11:00:00Z", "interval": "hour"},
    )
    assert hours["items"] == [
        volume("2026-11-16T09:00:00+01:00", None, 8, 3, 0, 1, 0),  # O1 O5 at 35, O2 at 50
        volume("2026-11-16T10:00:00+01:00", None, 0, 3, 3, 0, 0),  # O4 80, O3 85, O10 100
        volume("2026-11-16T11:00:00+01:00", None, 0, 0, 0, 0, 1),  # O9's no-show at 120
    ]
    first = await get(
        gateway,
        "/api/v1/flow/volumes",
        {
            "from": "2026-11-16T08:00:00Z",
            "to": "2026-11-16T11:00:00Z",
            "interval": "hour",
            "limit": "2",
        },
    )
    rest = await get(
        gateway,
        "/api/v1/flow/volumes",
        {
            "from": "2026-11-16T08:00:00Z",
            "to": "2026-11-16T11:00:00Z",
            "interval": "hour",
            "limit": "2",
            "cursor": first["next_cursor"],
        },
    )
    assert first["items"] + rest["items"] == hours["items"] and rest["next_cursor"] is None
    weeks = await get(
        gateway,
        "/api/v1/flow/volumes",
        {"from": "2026-11-10", "to": "2026-11-20", "interval": "week"},
    )
    assert weeks["items"] == [
        volume("2026-11-09T00:00:00+01:00", None, 1, 1, 0, 0, 0),  # O8 on Friday the 13th
        volume("2026-11-16T00:00:00+01:00", None, 8, 6, 5, 1, 1),
    ]


async def test_the_board_shows_the_department_now(gateway: RunningGateway) -> None:
    """Ordered, scheduled today, waiting, in exam and awaiting report, counted and listed."""
    now = datetime.now(UTC)
    today_noon = datetime.combine(now.astimezone(BERLIN).date(), time(12), BERLIN)
    await device(gateway, "CT1", "CT")
    await device(gateway, "MR1", "MR")
    await place(gateway, "B1", now - timedelta(hours=2))
    await place(gateway, "B2", now - timedelta(hours=2), "MR")
    await schedule(gateway, "B2", today_noon)
    await place(gateway, "B3", now - timedelta(hours=2))
    await schedule(gateway, "B3", today_noon + timedelta(days=1))  # tomorrow: not on the board
    patient = await place(gateway, "B4", now - timedelta(hours=1))
    await arrive(gateway, patient, "B4", now - timedelta(minutes=25))
    await place(gateway, "B5", now - timedelta(hours=1))
    await step(gateway, "1.2.5", "B5", "CT1", started=now - timedelta(minutes=10), ended=None)
    await place(gateway, "B6", now - timedelta(hours=3), "MR")
    await milestone(gateway, "B6", Milestone.EXAM_STARTED, now - timedelta(minutes=50))
    await milestone(gateway, "B6", Milestone.EXAM_COMPLETED, now - timedelta(minutes=30))
    await image(gateway, "1.2.9.6", "B6", "MR1", now - timedelta(minutes=29))
    await place(gateway, "B7", now - timedelta(hours=3))
    await report(gateway, "B7", ReportStatus.FINAL, now - timedelta(minutes=5))
    await place(gateway, "B8", now - timedelta(hours=3))
    await milestone(gateway, "B8", Milestone.CANCELLED, now - timedelta(minutes=5))

    board = await get(gateway, "/api/v1/flow/board")
    assert board["counts"] == {
        "ordered": 1,
        "scheduled_today": 1,
        "waiting": 1,
        "in_exam": 1,
        "awaiting_report": 1,
    }
    assert [(i["state"], i["accession"], i["device"]) for i in board["items"]] == [
        ("ordered", "B1", ""),
        ("scheduled_today", "B2", ""),
        ("waiting", "B4", ""),
        ("in_exam", "B5", "CT1"),
        ("awaiting_report", "B6", "MR1"),
    ]
    waiting = board["items"][2]
    assert 25 <= waiting["minutes_waiting"] < 30 and waiting["patient"]["identifier"] == "P-B4"
    assert board["by_modality"]["MR"] == {
        "ordered": 0,
        "scheduled_today": 1,
        "waiting": 0,
        "in_exam": 0,
        "awaiting_report": 1,
    }
    assert board["by_device"]["CT1"]["in_exam"] == 1
    assert board["day"] == now.astimezone(BERLIN).date().isoformat()

    ct = await get(gateway, "/api/v1/flow/board", {"modality": "CT"})
    assert [i["accession"] for i in ct["items"]] == ["B1", "B4", "B5"]
    on_ct1 = await get(gateway, "/api/v1/flow/board", {"device": "CT1"})
    assert [i["accession"] for i in on_ct1["items"]] == ["B5"]
    assert on_ct1["counts"]["in_exam"] == 1 and on_ct1["counts"]["ordered"] == 0
    some = await get(gateway, "/api/v1/flow/board", {"state": "waiting,in_exam"})
    assert [i["accession"] for i in some["items"]] == ["B4", "B5"]
    assert some["counts"]["ordered"] == 1  # states narrow the list, not the counts
    first = await get(gateway, "/api/v1/flow/board", {"limit": "3"})
    rest = await get(gateway, "/api/v1/flow/board", {"limit": "3", "cursor": first["next_cursor"]})
    paged = [i["accession"] for i in first["items"] + rest["items"]]
    assert paged == ["B1", "B2", "B4", "B5", "B6"] and rest["next_cursor"] is None


async def test_unmatched_items_are_listed_and_linked(gateway: RunningGateway) -> None:
    """Unmatched studies, steps and placeholder orders are listed; a link sets milestones once."""
    await device(gateway, "CT9", "CT")
    await image(gateway, "1.2.9.77", "LATE-1", "CT9", at(30))
    await step(gateway, "1.2.5.77", "LATE-2", "CT9", started=at(20), ended=at(40))
    await report(gateway, "GHOST", ReportStatus.FINAL, at(90))
    await place(gateway, "TARGET", at(0))

    listed = await get(gateway, "/api/v1/unmatched")
    assert [(i["kind"], i["accession"], i["device"]) for i in listed["items"]] == [
        ("order", "GHOST", ""),
        ("procedure_step", "LATE-2", "CT9"),
        ("study", "LATE-1", "CT9"),
    ]  # newest first: the step and the placeholder were first seen now, the study at T0+30
    study = (await get(gateway, "/api/v1/unmatched", {"kind": "study"}))["items"]
    assert [(s["accession"], s["study_instance_uid"], s["patient_identifier"]) for s in study] == [
        ("LATE-1", "1.2.9.77", "P-IMG")
    ]
    assert study[0]["first_seen"] == "2026-11-16T08:30:00+00:00"
    steps = (await get(gateway, "/api/v1/unmatched", {"kind": "procedure_step"}))["items"]
    assert [(s["accession"], s["status"]) for s in steps] == [("LATE-2", "COMPLETED")]
    ghosts = (await get(gateway, "/api/v1/unmatched", {"kind": "order"}))["items"]
    assert [g["accession"] for g in ghosts] == ["GHOST"]
    first = await get(gateway, "/api/v1/unmatched", {"limit": "2"})
    rest = await get(gateway, "/api/v1/unmatched", {"limit": "2", "cursor": first["next_cursor"]})
    assert first["items"] + rest["items"] == listed["items"]

    url = f"{gateway.http_url}/api/v1/unmatched"
    link = b'{"accession": "TARGET"}'
    assert (await call("POST", f"{url}/study/{study[0]['id']}/link", body=link))[0] == 200
    assert (await call("POST", f"{url}/procedure_step/{steps[0]['id']}/link", body=link))[0] == 200
    order = await get(gateway, "/api/v1/orders/TARGET")
    assert order["milestones"]["images_available"] == "2026-11-16T08:30:00+00:00"
    assert order["milestones"]["exam_started"] == "2026-11-16T08:20:00+00:00"
    assert order["milestones"]["exam_completed"] == "2026-11-16T08:40:00+00:00"
    assert order["status"] == "images_available"
    linked = [t for t in order["timeline"] if t["milestone"] != "ordered"]
    assert len(linked) == 3 and all(t["message_id"] is not None for t in linked)
    remaining = (await get(gateway, "/api/v1/unmatched"))["items"]
    assert [i["kind"] for i in remaining] == ["order"]

    status, content_type, body = await call("POST", f"{url}/study/{study[0]['id']}/link", body=link)
    assert (status, content_type) == (409, "application/problem+json"), body
    assert (await call("POST", f"{url}/study/999999/link", body=link))[0] == 404
    await image(gateway, "1.2.9.78", "LATE-3", "CT9", at(31))
    other = (await get(gateway, "/api/v1/unmatched", {"kind": "study"}))["items"][0]["id"]
    status, _, body = await call("POST", f"{url}/study/{other}/link", body=b'{"accession": "NOPE"}')
    assert status == 409 and body["detail"].startswith("accession:")
    for bad, name in (
        (b"not json", "body:"),
        (b"[1]", "body:"),
        (b"{}", "accession:"),
        (b'{"accession": ""}', "accession:"),
        (b'{"accession": "TARGET", "x": 1}', "x:"),
    ):
        status, _, body = await call("POST", f"{url}/study/{other}/link", body=bad)
        assert status == 400 and body["detail"].startswith(name), (bad, body)


BAD_PARAMETERS = [
    ("/api/v1/flow/board", {"modality": ""}, "modality"),
    ("/api/v1/flow/board", {"device": ["CT1", "CT2"]}, "device"),
    ("/api/v1/flow/board", {"state": "sleeping"}, "state"),
    ("/api/v1/flow/board", {"limit": "0"}, "limit"),
    ("/api/v1/flow/board", {"cursor": "bm9wZQ"}, "cursor"),
    ("/api/v1/flow/board", {"colour": "red"}, "colour"),
    ("/api/v1/flow/turnaround", {"from": "yesterday"}, "from"),
    ("/api/v1/flow/turnaround", {"to": "2026-13-01"}, "to"),
    ("/api/v1/flow/turnaround", {"from": "2026-11-20", "to": "2026-11-10"}, "from"),
    ("/api/v1/flow/turnaround", {"from": "2025-01-01", "to": "2026-11-10"}, "from"),
    ("/api/v1/flow/turnaround", {"group_by": "colour"}, "group_by"),
    ("/api/v1/flow/turnaround", {"figure": "speed"}, "figure"),
    ("/api/v1/flow/turnaround", {"figure": "wait,,access"}, "figure"),
    ("/api/v1/flow/turnaround", {"limit": "501"}, "limit"),
    ("/api/v1/flow/turnaround", {"cursor": "WyJ3YWl0Il0"}, "cursor"),  # ["wait"]
    ("/api/v1/flow/turnaround", {"interval": "day"}, "interval"),
    ("/api/v1/flow/volumes", {"interval": "minute"}, "interval"),
    ("/api/v1/flow/volumes", {"group_by": "priority"}, "group_by"),
    (
        "/api/v1/flow/volumes",
        {"interval": "hour", "from": "2026-10-01", "to": "2026-11-10"},
        "from",
    ),
    ("/api/v1/flow/volumes", {"from": "2024-01-01", "to": "2026-11-10"}, "from"),
    ("/api/v1/flow/volumes", {"figure": "wait"}, "figure"),
    ("/api/v1/unmatched", {"kind": "patient"}, "kind"),
    ("/api/v1/unmatched", {"cursor": "!!"}, "cursor"),
    ("/api/v1/unmatched", {"limit": "ten"}, "limit"),
]


async def test_every_bad_parameter_is_a_400_naming_it(gateway: RunningGateway) -> None:
    """Each invalid or unknown parameter is answered 400 problem+json naming the parameter."""
    for path, params, name in BAD_PARAMETERS:
        query = [
            (k, v)
            for k, values in params.items()
            for v in ([values] if isinstance(values, str) else values)
        ]
        status, content_type, body = await call("GET", f"{gateway.http_url}{path}", query)
        assert (status, content_type) == (400, "application/problem+json"), (path, params, body)
        assert body["detail"].startswith(f"{name}:"), (path, params, body)
