"""The patient-flow routes (board, turnaround, volumes, unmatched, link) with a real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from gateway.config import FlowSettings
from gateway.keys import INGEST
from mappers.events import (
    CodedValue,
    DeviceSeen,
    Event,
    InstanceStored,
    Milestone,
    MilestoneReached,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientClass,
    PatientId,
    PatientNoShow,
    PatientUpserted,
    PersonName,
    ProcedureScheduled,
    ProcedureStepCreated,
    Provider,
    ReportIssued,
    ReportStatus,
    ScheduledStep,
    StepStatus,
    Visit,
)
from store.ingest import Outcome
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.applied import applied_message

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (UTC+1)
GOALS = {
    "report_turnaround/*/S/emergency": 60.0,
    # Equally specific: for a CT order of priority R, "*/R/*" sorts first and applies.
    "report_turnaround/CT/*/*": 2000.0,
    "report_turnaround/*/R/*": 1000.0,
    "wait/*/*/outpatient": 30.0,
}


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    """A running gateway in Berlin time with the flow routes and goals of these tests."""
    base = gateway_settings(database_url)
    settings = base.model_copy(
        update={"timezone": "Europe/Berlin", "flow": FlowSettings(goals=dict(GOALS))}
    )
    running = await start_gateway(settings)
    try:
        yield running
    finally:
        await running.runner.cleanup()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def send(gateway: RunningGateway, *events: Event) -> None:
    """Store the events as one applied message, as a listener would."""
    stored = await gateway.app[INGEST].submit(applied_message(events))
    assert stored.outcome is Outcome.APPLIED


async def place(
    gateway: RunningGateway,
    accession: str,
    ordered_at: datetime,
    modality: str = "CT",
    *,
    priority: str = "S",
    patient_class: PatientClass = PatientClass.EMERGENCY,
) -> PatientId:
    """Place an order for a patient of its own (arrivals apply per patient)."""
    patient = PatientId(f"P-{accession}", "GENERAL_HOSP")
    details = OrderDetails(
        procedure=CodedValue("X1", f"{modality} EXAM", "LOCAL"),
        modality=modality,
        priority=priority,
        patient_class=patient_class,
    )
    person = PatientUpserted(
        patient, PersonName("DOE", accession), None, "F", ordered_at, Visit(patient_class)
    )
    await send(gateway, person, OrderPlaced(accession, patient, details, ordered_at))
    return patient


async def milestone(
    gateway: RunningGateway, accession: str, name: Milestone, when: datetime
) -> None:
    await send(gateway, MilestoneReached(accession, name, when))


async def report(
    gateway: RunningGateway, accession: str, status: ReportStatus, when: datetime
) -> None:
    await send(gateway, ReportIssued(accession, status, "text", Provider("R1"), when))


async def schedule(gateway: RunningGateway, accession: str, start: datetime) -> None:
    await send(
        gateway, ProcedureScheduled(accession, start, 20, "ROOM", start - timedelta(hours=1))
    )


async def arrive(
    gateway: RunningGateway, patient: PatientId, accession: str, when: datetime
) -> None:
    await send(gateway, PatientArrived(patient, when, accession))


async def device(gateway: RunningGateway, ae_title: str, modality: str) -> None:
    await send(gateway, DeviceSeen(ae_title, T0 - timedelta(days=30), modality=modality))


async def step(
    gateway: RunningGateway,
    uid: str,
    accession: str,
    ae_title: str,
    *,
    started: datetime,
    ended: datetime | None,
) -> None:
    """An MPPS N-CREATE, completed when it has an end."""
    status = StepStatus.COMPLETED if ended else StepStatus.IN_PROGRESS
    await send(
        gateway,
        ProcedureStepCreated(
            uid,
            status,
            (ScheduledStep(accession),),
            None,
            ae_title,
            "CT",
            started,
            ended,
            (),
            started,
        ),
    )


async def image(
    gateway: RunningGateway, study_uid: str, accession: str, ae_title: str, when: datetime
) -> None:
    """One C-STORE of a study."""
    await send(
        gateway,
        InstanceStored(
            study_instance_uid=study_uid,
            series_instance_uid=f"{study_uid}.1",
            sop_instance_uid=f"{study_uid}.1.1",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax="1.2.840.10008.1.2.1",
            accession=accession,
            patient=PatientId("P-IMG", "GENERAL_HOSP"),
            modality="CT",
            body_part="CHEST",
            study_started_at=when,
            study_description="CT CHEST",
            device_ae_title=ae_title,
            received_at=when,
        ),
    )


async def call(
    method: str, url: str, params: Any = None, body: bytes | None = None
) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, params=params, data=body) as response,
    ):
        return response.status, response.content_type, await response.json(content_type=None)


async def get(gateway: RunningGateway, path: str, params: Any = None) -> Any:
    status, content_type, body = await call("GET", f"{gateway.http_url}{path}", params)
    assert (status, content_type) == (200, "application/json"), body
    return body


async def load_department(gateway: RunningGateway) -> None:
    """Nine orders with known times, all on Monday 2026-11-16 (09:00 Berlin = T0) unless noted."""
    # minutes from T0:  ordered arrived sched start done prelim final
    # O1 CT S emerg.       0      5     10    20   35    50    80   MPPS on CT1 (+ a later step)
    # O2 CT S emerg.       0     10     45    40   50     -   110   images on CT2 at 55
    # O3 CT R outpt.       0     30     60    70   85   100  1500   (final on Tuesday)
    # O4 MR R outpt.       0     20     45    50   80     -   930   (final 23:30 UTC: Tuesday local)
    # O5 CT S emerg.       0      -      -    20   35     -     -   (missing ends)
    # O6 CT S emerg.       0      5      -    30    -     -     -   cancelled at 40: not counted
    # O8 CT S emerg.   -4320      -      - -4290 -4280    -    60   (only its report ends in range)
    # O9 CT S emerg.       0      -    100     -    -     -     -   no-show at 120
    # O10 MR R outpt.      0      -      -     -    -     -     -   images (no MPPS) at 100
    await device(gateway, "CT1", "CT")
    await device(gateway, "CT2", "CT")
    outpatient = PatientClass.OUTPATIENT
    patients = {
        "O1": await place(gateway, "O1", at(0)),
        "O2": await place(gateway, "O2", at(0)),
        "O3": await place(gateway, "O3", at(0), "CT", priority="R", patient_class=outpatient),
        "O4": await place(gateway, "O4", at(0), "MR", priority="R", patient_class=outpatient),
        "O5": await place(gateway, "O5", at(0)),
        "O6": await place(gateway, "O6", at(0)),
        "O8": await place(gateway, "O8", at(-4320)),
        "O9": await place(gateway, "O9", at(0)),
        "O10": await place(gateway, "O10", at(0), "MR", priority="R", patient_class=outpatient),
    }
    for accession, arrived in (("O1", 5), ("O2", 10), ("O3", 30), ("O4", 20), ("O6", 5)):
        await arrive(gateway, patients[accession], accession, at(arrived))
    for accession, start in (("O1", 10), ("O2", 45), ("O3", 60), ("O4", 45), ("O9", 100)):
        await schedule(gateway, accession, at(start))
    await step(gateway, "1.2.3.1", "O1", "CT1", started=at(20), ended=at(35))
    await step(
        gateway, "1.2.3.2", "O1", "CT2", started=at(25), ended=None
    )  # started later: not O1's device
    for accession, started, done in (
        ("O2", 40, 50),
        ("O3", 70, 85),
        ("O4", 50, 80),
        ("O5", 20, 35),
        ("O8", -4290, -4280),
    ):
        await milestone(gateway, accession, Milestone.EXAM_STARTED, at(started))
        await milestone(gateway, accession, Milestone.EXAM_COMPLETED, at(done))
    await milestone(gateway, "O6", Milestone.EXAM_STARTED, at(30))
    await milestone(gateway, "O6", Milestone.CANCELLED, at(40))
    await image(gateway, "1.2.9.2", "O2", "CT2", at(55))
    await image(gateway, "1.2.9.10", "O10", "CT2", at(100))
    await send(gateway, PatientNoShow("O9", at(120)))
    for accession, when in (("O1", 50), ("O3", 100)):
        await report(gateway, accession, ReportStatus.PRELIMINARY, at(when))
    for accession, when in (("O1", 80), ("O2", 110), ("O3", 1500), ("O4", 930), ("O8", 60)):
        await report(gateway, accession, ReportStatus.FINAL, at(when))


def figures_of(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {
        (item["figure"], item["group"]): {
            k: v for k, v in item.items() if k not in ("figure", "group")
        }
        for item in body["items"]
    }


def row(
    count: int,
    p50: float,
    p90: float,
    p95: float,
    *,
    with_goal: int = 0,
    share: float | None = None,
) -> dict[str, Any]:
    within = round(share * with_goal) if share is not None else 0
    return {
        "count": count,
        "p50": pytest.approx(p50),
        "p90": pytest.approx(p90),
        "p95": pytest.approx(p95),
        "with_goal": with_goal,
        "within_goal": within,
        "share_within_goal": share,
    }


WEEK = {"from": "2026-11-16", "to": "2026-11-19"}


async def test_turnaround_by_modality_matches_figures_computed_by_hand(
    gateway: RunningGateway,
) -> None:
    """Every figure by modality: counts, p50/p90/p95 and share within goal as worked by hand."""
    # Percentiles use h = (n - 1) p between sorted ranks; for example report turnaround on CT
    # is [45, 60, 1415, 4340]: p50 = 60 + 0.5 * 1355 = 737.5, p90 = 1415 + 0.7 * 2925 = 3462.5,
    # p95 = 1415 + 0.85 * 2925 = 3901.25; statistics.quantiles(data, n=100,
    # method="inclusive") gives the same cut points 50, 90 and 95, as does numpy.percentile.
    await load_department(gateway)
    body = await get(gateway, "/api/v1/flow/turnaround", {**WEEK, "group_by": "modality"})
    assert body["group_by"] == "modality" and body["next_cursor"] is None
    assert body["from"] == "2026-11-16T00:00:00+00:00" and body["to"] == "2026-11-19T00:00:00+00:00"
    assert figures_of(body) == {
        # CT [20, 20, 40, 70] (O1, O5 tie; O6 cancelled; O8 started before the range).
        ("access", "CT"): row(4, 30.0, 61.0, 65.5),
        ("access", "MR"): row(1, 50.0, 50.0, 50.0),  # a group of one
        # CT [15, 30, 40] (O5 never arrived); only O3 is outpatient: 40 > 30.
        ("wait", "CT"): row(3, 30.0, 38.0, 39.0, with_goal=1, share=0.0),
        ("wait", "MR"): row(1, 30.0, 30.0, 30.0, with_goal=1, share=1.0),  # 30 <= 30
        # CT [-5, 10, 10] (O2 started 5 minutes early).
        ("start_delay", "CT"): row(3, 10.0, 10.0, 10.0),
        ("start_delay", "MR"): row(1, 5.0, 5.0, 5.0),
        ("exam_duration", "CT"): row(4, 15.0, 15.0, 15.0),  # [10, 15, 15, 15]
        ("exam_duration", "MR"): row(1, 30.0, 30.0, 30.0),
        # CT [45, 60, 1415, 4340]: O1 45 <= 60, O2 60 <= 60, O3 1415 > 1000 (tie rule),
        # O8 4340 > 60.
        ("report_turnaround", "CT"): row(4, 737.5, 3462.5, 3901.25, with_goal=4, share=0.5),
        ("report_turnaround", "MR"): row(1, 850.0, 850.0, 850.0, with_goal=1, share=1.0),
        ("preliminary_turnaround", "CT"): row(2, 15.0, 15.0, 15.0),  # [15, 15]
        # CT [80, 110, 1500, 4380]: 110 + 0.5 * 1390, 1500 + 0.7 * 2880, 1500 + 0.85 * 2880.
        ("total_turnaround", "CT"): row(4, 805.0, 3516.0, 3948.0),
        ("total_turnaround", "MR"): row(1, 930.0, 930.0, 930.0),
    }


async def test_the_orders_behind_each_bar_are_the_ones_its_figure_counts(
    gateway: RunningGateway,
) -> None:
    """Each group's order list holds exactly the orders its figure counted, cancelled ones out."""
    await load_department(gateway)

    async def behind(params: dict[str, str]) -> set[str]:
        body = await get(gateway, "/api/v1/flow/turnaround/orders", {**WEEK, **params})
        return {order["accession"] for order in body["items"]}

    emergency = {"figure": "access", "patient_class": "emergency"}
    assert await behind(emergency) == {"O1", "O2", "O5"}  # O6 cancelled, O8 started earlier
    assert await behind({"figure": "report_turnaround", "modality": "CT"}) == {
        "O1",
        "O2",
        "O3",
        "O8",
    }
    assert await behind({"figure": "wait", "priority": "R"}) == {"O3", "O4"}
    for group_by in ("modality", "priority", "patient_class"):
        body = await get(gateway, "/api/v1/flow/turnaround", {**WEEK, "group_by": group_by})
        for item in body["items"]:
            orders = await behind({"figure": item["figure"], group_by: item["group"]})
            assert len(orders) == item["count"], (group_by, item)


async def test_orders_filter_by_priority_and_patient_class(gateway: RunningGateway) -> None:
    """The order list narrows to a priority and a patient class, and shows the class."""
    await load_department(gateway)
    body = await get(gateway, "/api/v1/orders", {"priority": "R", "patient_class": "outpatient"})
    assert {o["accession"] for o in body["items"]} == {"O3", "O4", "O10"}
    assert {o["patient_class"] for o in body["items"]} == {"outpatient"}


async def test_turnaround_by_local_day_device_and_class(gateway: RunningGateway) -> None:
    """Day is the local date of the end time; device is the first step's, else the study's."""
    await load_department(gateway)
    by_day = await get(
        gateway,
        "/api/v1/flow/turnaround",
        {**WEEK, "group_by": "day", "figure": "report_turnaround"},
    )
    assert figures_of(by_day) == {
        # Monday: O1 45, O2 60, O8 4340 -> p90 = 60 + 0.8 * 4280, p95 = 60 + 0.9 * 4280.
        ("report_turnaround", "2026-11-16"): row(3, 60.0, 3484.0, 3912.0, with_goal=3, share=2 / 3),
        # Tuesday local: O4 850 (23:30 UTC Monday) and O3 1415 -> 850 + p * 565.
        ("report_turnaround", "2026-11-17"): row(
            2, 1132.5, 1358.5, 1386.75, with_goal=2, share=0.5
        ),
    }
    by_device = await get(
        gateway,
        "/api/v1/flow/turnaround",
        [*WEEK.items(), ("group_by", "device"), ("figure", "exam_duration")],
    )
    assert figures_of(by_device) == {
        ("exam_duration", ""): row(3, 15.0, 27.0, 28.5),  # O3 15, O5 15, O4 30
        ("exam_duration", "CT1"): row(1, 15.0, 15.0, 15.0),  # O1, not its later CT2 step
        ("exam_duration", "CT2"): row(1, 10.0, 10.0, 10.0),  # O2 by its study
    }
    by_class = await get(
        gateway,
        "/api/v1/flow/turnaround",
        [*WEEK.items(), ("group_by", "patient_class"), ("figure", "wait"), ("figure", "access")],
    )
    assert figures_of(by_class) == {
        ("access", "emergency"): row(3, 20.0, 36.0, 38.0),  # [20, 20, 40]
        ("access", "outpatient"): row(2, 60.0, 68.0, 69.0),  # [50, 70]
        ("wait", "emergency"): row(2, 22.5, 28.5, 29.25),  # [15, 30]
        ("wait", "outpatient"): row(2, 35.0, 39.0, 39.5, with_goal=2, share=0.5),  # [30, 40]
    }
    overall = await get(
        gateway, "/api/v1/flow/turnaround", {**WEEK, "figure": "exam_duration,access"}
    )
    assert figures_of(overall) == {
        ("access", None): row(5, 40.0, 62.0, 66.0),  # [20, 20, 40, 50, 70]
        ("exam_duration", None): row(5, 15.0, 24.0, 27.0),  # [10, 15, 15, 15, 30]
    }


async def test_turnaround_pages_by_cursor(gateway: RunningGateway) -> None:
    """Pages of two rows, followed by cursor, give the whole list once, in order."""
    await load_department(gateway)
    params = {**WEEK, "group_by": "modality"}
    whole = (await get(gateway, "/api/v1/flow/turnaround", params))["items"]
    seen: list[Any] = []
    cursor = None
    while True:
        page = await get(
            gateway,
            "/api/v1/flow/turnaround",
            {**params, "limit": "2", **({"cursor": cursor} if cursor else {})},
        )
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and len(whole) == 13


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
