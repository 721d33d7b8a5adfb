"""A department's days for the patient-flow route tests: a gateway in Berlin time with the
goals of these tests, and the orders, steps, images and reports they are played from."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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


@contextlib.asynccontextmanager
async def flow_gateway(database_url: str) -> AsyncIterator[RunningGateway]:
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
