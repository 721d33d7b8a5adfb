"""Webhooks end to end: milestones POSTed as signed JSON to a real HTTP receiver, in order per
order, with retries on 503 and a dead letter on 4xx that the API retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from pydantic import SecretStr

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from gateway.outbound_settings import WebhookDestination
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient
from tests.support.receivers import HttpReceiver

SECRET = "webhook-secret-for-tests"


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    """An HTTP receiver answering 204 unless the test says otherwise."""
    server = HttpReceiver()
    await server.start()
    yield server
    await server.close()


async def _gateway(
    database_url: str,
    receiver: HttpReceiver,
    events: tuple[str, ...] = ("milestone", "order_cancelled"),
    goals: dict[str, float] | None = None,
) -> RunningGateway:
    hook = WebhookDestination(
        name="analytics", url=receiver.url, secret=SecretStr(SECRET), events=events, timeout=2.0
    )
    outbound = {
        "webhooks": (hook,),
        "poll_interval": 0.05,
        "lease": 10.0,
        "backoff_base": 0.05,
        "backoff_max": 0.2,
        "unmatched_study_after_minutes": 0.001,
        "unmatched_check_interval": 0.05,
    }
    flow = {"goals": goals} if goals else {}
    return await start_gateway(gateway_settings(database_url, outbound=outbound, flow=flow))


async def _send(gateway: RunningGateway, *messages: bytes) -> None:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        for message in messages:
            assert b"MSA|AA|" in await client.send(message)
    finally:
        await client.close()


def _cancel(accession: str) -> bytes:
    """The order message turned into a cancel (ORC-1 CA) at a later time."""
    text = orm_new_order(accession, control_id=f"CA-{accession}").decode("ascii")
    return text.replace("ORC|NW|", "ORC|CA|").encode("ascii")


async def test_events_are_signed_and_in_order(database_url: str, receiver: HttpReceiver) -> None:
    """ordered, then cancelled (milestone and order_cancelled), each signed over its raw body
    with the destination's secret, with the event and delivery headers."""
    gateway = await _gateway(database_url, receiver)
    try:
        await _send(gateway, orm_new_order("HOOK1", control_id="NW-HOOK1"), _cancel("HOOK1"))
        await receiver.wait_for_delivered(3)
        bodies = [orjson.loads(body) for _, body in receiver.received]
        assert [(b["type"], b["data"].get("milestone")) for b in bodies] == [
            ("milestone", "ordered"),
            ("milestone", "cancelled"),
            ("order_cancelled", None),
        ]
        for headers, body in receiver.received:
            expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Imaging-Gateway-Signature"] == f"sha256={expected}"
            event = orjson.loads(body)
            assert headers["X-Imaging-Gateway-Delivery"] == event["id"]
            assert headers["X-Imaging-Gateway-Event"] == event["type"]
            assert set(event) == {"id", "type", "occurred_at", "data"}
        assert bodies[0]["data"] == {
            "accession": "HOOK1",
            "milestone": "ordered",
            "at": bodies[0]["occurred_at"],
        }
    finally:
        await gateway.runner.cleanup()


async def test_503_retries_with_the_same_id(database_url: str, receiver: HttpReceiver) -> None:
    """Two 503s, then 204: the same event, same id and same bytes, three times."""
    answers = iter([503, 503])
    receiver.status = lambda _body: next(answers, 204)
    gateway = await _gateway(database_url, receiver)
    try:
        await _send(gateway, orm_new_order("HOOK2", control_id="NW-HOOK2"))
        await receiver.wait_for_delivered(1)
        bodies = [body for _, body in receiver.received]
        assert len(bodies) == 3 and len(set(bodies)) == 1
    finally:
        await gateway.runner.cleanup()


async def test_4xx_dead_letter_retried_via_api(database_url: str, receiver: HttpReceiver) -> None:
    """A 400 dead-letters the event at once; POST /api/v1/outbox/{id}/retry sends it again, and
    the audit trail records the operator's retry."""
    rejecting = True
    receiver.status = lambda _body: 400 if rejecting else 200
    gateway = await _gateway(database_url, receiver)
    try:
        await _send(gateway, orm_new_order("HOOK3", control_id="NW-HOOK3"))
        url = f"{gateway.http_url}/api/v1/outbox"
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(30):
                while True:
                    async with http.get(url, params={"state": "dead"}) as response:
                        dead = (await response.json())["items"]
                    if dead:
                        break
                    await asyncio.sleep(0.05)
            assert dead[0]["last_error"] == "HTTP 400" and dead[0]["attempts"] == 1
            rejecting = False
            async with http.post(f"{url}/{dead[0]['id']}/retry") as response:
                assert response.status == 200
            await receiver.wait_for_delivered(1)
            async with http.get(f"{gateway.http_url}/api/v1/audit") as response:
                audit = (await response.json())["items"]
        assert [(a["entity"], a["method"], a["status"]) for a in audit] == [("outbox", "POST", 200)]
        assert audit[0]["path"] == f"/api/v1/outbox/{dead[0]['id']}/retry"
        assert len(receiver.received) == 2
        assert receiver.received[0][1] == receiver.received[1][1]
    finally:
        await gateway.runner.cleanup()


async def test_unmatched_study_is_announced(database_url: str, receiver: HttpReceiver) -> None:
    """Images of a study no order names are announced as unmatched_study once the wait passes."""
    gateway = await _gateway(database_url, receiver, events=("unmatched_study",))
    try:
        modality = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT01")
        image = fx.ct_instance(accession="NOORDER1")
        assert await asyncio.to_thread(modality.store, image) == [0]
        await receiver.wait_for_delivered(1)
        (event,) = [orjson.loads(body) for _, body in receiver.received]
        assert event["type"] == "unmatched_study"
        assert event["data"]["study_instance_uid"] == image.StudyInstanceUID
        assert event["data"]["accession"] == "NOORDER1"
    finally:
        await gateway.runner.cleanup()


async def test_an_exam_past_its_goal_is_announced_while_still_waiting(
    database_url: str, receiver: HttpReceiver
) -> None:
    """An order not started within its access goal is announced as turnaround_over_goal
    while still open, without any further message."""
    goals = {"access/*/*/*": 0.01}  # 0.6 s from order to exam start
    events = ("turnaround_over_goal",)
    gateway = await _gateway(database_url, receiver, events=events, goals=goals)
    try:
        ordered = orm_new_order("LATE1", control_id="NW-LATE1", ordered_at=datetime.now(UTC))
        await _send(gateway, ordered)
        await receiver.wait_for_delivered(1)
        (event,) = [orjson.loads(body) for _, body in receiver.received]
        assert event["type"] == "turnaround_over_goal"
        data = event["data"]
        assert (data["accession"], data["figure"], data["open"]) == ("LATE1", "access", True)
        assert data["goal_minutes"] == 0.01 and data["minutes"] >= 0.0
    finally:
        await gateway.runner.cleanup()
