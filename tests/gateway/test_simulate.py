"""`imaging-gateway simulate`: a department's day over MLLP and DICOM, seen through the API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import aiohttp
from sqlalchemy import select

from gateway.keys import DICOM_LISTENER
from gateway.simulation.department import Step, plan_day
from gateway.simulation.player import DayOptions, Peers, simulate
from store.schema import device_transitions, devices
from tests.conftest import RunningGateway, gateway_settings, start_gateway

START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
_STATUS_AFTER = {
    Step.ORDER: "ordered",
    Step.SCHEDULE: "scheduled",
    Step.ARRIVE: "arrived",
    Step.START: "exam_started",
    Step.COMPLETE: "exam_completed",
    Step.IMAGES: "images_available",
    Step.PRELIMINARY: "preliminary_report",
    Step.FINAL: "final_report",
    Step.CANCEL: "cancelled",
}
_RANK = [*_STATUS_AFTER.values()]


async def _orders(gateway: RunningGateway) -> list[dict]:
    url = f"{gateway.http_url}/api/v1/orders?limit=100"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return (await response.json())["items"]


def test_the_plan_is_a_day_of_scheduled_workflow() -> None:
    """Every exam is registered and ordered; one no-show, one cancel; the rest are scanned
    (MPPS start, images, completion, in that order) and most are reported."""
    plan = plan_day(START, 10, 30, seed=3)
    steps = Counter(event.step for event in plan)
    assert steps[Step.REGISTER] == steps[Step.ORDER] == 30
    assert (steps[Step.NO_SHOW], steps[Step.CANCEL]) == (1, 1)
    assert steps[Step.START] == steps[Step.IMAGES] == steps[Step.COMPLETE] == 28
    assert steps[Step.FINAL] >= 15 and steps[Step.PRELIMINARY] >= 1
    by_exam: dict[str, list[Step]] = {}
    for event in plan:
        by_exam.setdefault(event.exam.accession, []).append(event.step)
    order = [Step.REGISTER, Step.ORDER, Step.ARRIVE, Step.START, Step.IMAGES, Step.COMPLETE]
    for accession, seen in by_exam.items():
        scanned = [step for step in seen if step in order]
        assert scanned == sorted(scanned, key=order.index), accession
    assert plan == plan_day(START, 10, 30, seed=3), "the same seed gives the same day"


async def test_a_simulated_day_populates_orders_devices_and_an_outage(database_url: str) -> None:
    """Every message accepted; orders end where their plan ends; seven scanners registered
    and monitored; the scanner that stopped answering is seen down, then up."""
    settings = gateway_settings(
        database_url, probe={"interval": 0.2, "failures": 2, "timeout": 1.0}
    )
    gateway = await start_gateway(settings)
    try:
        peers = Peers(
            mllp=("127.0.0.1", gateway.mllp_port),
            dicom=("127.0.0.1", gateway.app[DICOM_LISTENER].port, "IMAGING_GW"),
            http_url=gateway.http_url,
        )
        options = DayOptions(
            exams=14, past_hours=6, ahead_hours=0, outage=("MR01", 0.2, 2.5), seed=5
        )
        tally = await simulate(peers, options)
        assert tally.refused == []

        status = {order["accession"]: order["status"] for order in await _orders(gateway)}
        # Each order stands at the furthest milestone its played steps reached.
        expected = {}
        for event in plan_day(datetime.now(UTC), 6, 14, seed=5):  # the same exams and steps
            reached = _STATUS_AFTER.get(event.step)
            current = expected.get(event.exam.accession, "ordered")
            if reached and _RANK.index(reached) > _RANK.index(current):
                expected[event.exam.accession] = reached
        assert status == expected

        async with gateway.engine.connect() as conn:
            monitored = (await conn.execute(select(devices.c.ae_title, devices.c.monitored))).all()
            mr01 = select(devices.c.id).where(devices.c.ae_title == "MR01").scalar_subquery()
            changes = (
                (
                    await conn.execute(
                        select(device_transitions.c.state)
                        .where(device_transitions.c.device_id == mr01)
                        .order_by(device_transitions.c.at)
                    )
                )
                .scalars()
                .all()
            )
        assert {ae for ae, on in monitored if on} >= {"CT01", "CT02", "MR01", "DX01", "US01"}
        # Down during the outage, up when it ended (then down again: the simulation stopped
        # every scanner when it finished, and the prober goes on).
        assert changes[:2] == ["down", "up"], changes
    finally:
        await gateway.runner.cleanup()
