"""Procedure status to a RIS over MLLP, end to end: an order and a modality's MPPS in, ORC-5
IP then CM out, to a real MLLP receiver, with the delivery rules of issue 16."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from gateway.outbound_settings import Hl7Destination
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient
from tests.support.receivers import Answer, MllpReceiver, fields_of


def _outbound(port: int, version: str = "2.3.1") -> dict[str, object]:
    ris = Hl7Destination(
        name="ris",
        host="127.0.0.1",
        port=port,
        version=version,
        receiving_application="RIS",
        receiving_facility="HOSP",
        ack_timeout=2.0,
    )
    return {
        "hl7": (ris,),
        "poll_interval": 0.05,
        "lease": 10.0,
        "backoff_base": 0.05,
        "backoff_max": 0.2,
    }


@pytest.fixture
async def ris() -> AsyncIterator[MllpReceiver]:
    """A RIS that answers AA unless the test says otherwise."""
    receiver = MllpReceiver()
    await receiver.start()
    yield receiver
    await receiver.close()


async def _gateway(database_url: str, ris: MllpReceiver, version: str) -> RunningGateway:
    settings = gateway_settings(database_url, outbound=_outbound(ris.port, version))
    return await start_gateway(settings)


async def _order(gateway: RunningGateway, accession: str) -> None:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        ack = await client.send(orm_new_order(accession, control_id=f"ORM-{accession}"))
        assert b"MSA|AA|" in ack
    finally:
        await client.close()


async def _mpps(gateway: RunningGateway, accession: str, *, complete: bool = True) -> None:
    """A modality's MPPS over real DICOM: N-CREATE in progress, then N-SET completed."""
    modality = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT01")
    uid = fx.uid_for(accession, "mpps")
    started = fx.mpps_n_create(accession=accession, start=datetime(2026, 3, 2, 9, 30))
    assert (await asyncio.to_thread(modality.n_create, uid, started))[0] == 0
    if complete:
        done = fx.mpps_n_set(status="COMPLETED", end=datetime(2026, 3, 2, 9, 52))
        assert (await asyncio.to_thread(modality.n_set, uid, done))[0] == 0


async def _outbox(gateway: RunningGateway, **query: str) -> list[dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway.http_url}/api/v1/outbox", params=query) as response,
    ):
        assert response.status == 200
        return (await response.json())["items"]


async def test_mpps_gives_ip_then_cm_at_the_ris(database_url: str, ris: MllpReceiver) -> None:
    """An order through MPPS reaches the RIS as ORC-5 IP then CM, each ACKed by its MSH-10."""
    gateway = await _gateway(database_url, ris, "2.3.1")
    try:
        await _order(gateway, "OUT1")
        await _mpps(gateway, "OUT1")
        await ris.wait_for_acked(2)
        rows = await _wait_for_rows(gateway, state="delivered", count=2)
        statuses = [fields_of(m, "ORC")[5] for m in ris.received]
        assert statuses == ["IP", "CM"]
        first = ris.received[0]
        assert fields_of(first, "MSH")[3:7] == ["IMAGING_GW", "RADIOLOGY", "RIS", "HOSP"]
        assert fields_of(first, "MSH")[9] == "ORM^O01"
        assert fields_of(first, "ORC")[1:4] == ["SC", "PLCOUT1", "FILOUT1"]
        assert fields_of(first, "PID")[3].startswith("MRN0001^^^")
        assert fields_of(first, "OBR")[18] == "OUT1"
        assert rows == await _outbox(gateway, destination="ris")
        assert sorted(r["type"] for r in rows) == ["exam_completed", "exam_started"]
        for row in rows:
            assert row["state"] == "delivered" and row["attempts"] == 1
            assert row["committed_at"] <= row["claimed_at"] <= row["sent_at"]
            assert row["sent_at"] <= row["acknowledged_at"]
        assert sorted(r["event_id"] for r in rows) == sorted(ris.acked)
    finally:
        await gateway.runner.cleanup()


async def test_v251_destination_gets_omi(database_url: str, ris: MllpReceiver) -> None:
    """A v2.5.1 destination gets OMI^O23 with an IPC segment naming the accession."""
    gateway = await _gateway(database_url, ris, "2.5.1")
    try:
        await _order(gateway, "OMI1")
        await _mpps(gateway, "OMI1", complete=False)
        await ris.wait_for_acked(1)
        (message,) = ris.received
        assert fields_of(message, "MSH")[9] == "OMI^O23^OMI_O23"
        assert fields_of(message, "ORC")[5] == "IP"
        assert fields_of(message, "IPC")[1] == "OMI1"
    finally:
        await gateway.runner.cleanup()


async def test_receiver_down_gets_everything_in_order_after(
    database_url: str, ris: MllpReceiver
) -> None:
    """While the RIS drops every connection nothing is lost; afterwards IP then CM arrive in
    order, and every resend carries the MSH-10 of its first sending."""
    down = True

    def answer(_message: str) -> str:
        return "close" if down else "AA"

    ris.answer = answer
    gateway = await _gateway(database_url, ris, "2.3.1")
    try:
        await _order(gateway, "DOWN1")
        await _mpps(gateway, "DOWN1")
        await ris.wait_for_received(3)  # the first status, tried and dropped, again and again
        assert {fields_of(m, "ORC")[5] for m in ris.received} == {"IP"}, "CM waits behind IP"
        down = False
        await ris.wait_for_acked(2)
        assert [fields_of(m, "ORC")[5] for m in ris.received][-2:] == ["IP", "CM"]
        by_status: dict[str, set[str]] = {}
        for message in ris.received:
            by_status.setdefault(fields_of(message, "ORC")[5], set()).add(
                fields_of(message, "MSH")[10]
            )
        assert all(len(ids) == 1 for ids in by_status.values()), by_status
        rows = {r["type"]: r for r in await _wait_for_rows(gateway, state="delivered", count=2)}
        assert rows["exam_started"]["attempts"] >= 3
    finally:
        await gateway.runner.cleanup()


async def test_wrong_msa2_is_not_counted(database_url: str, ris: MllpReceiver) -> None:
    """An AA naming another MSH-10 leaves the row pending; the right ACK later delivers it."""
    answers = iter(["wrong-id"])

    def answer(_message: str) -> str:
        return next(answers, "AA")

    ris.answer = answer
    gateway = await _gateway(database_url, ris, "2.3.1")
    try:
        await _order(gateway, "MSA1")
        await _mpps(gateway, "MSA1", complete=False)
        await ris.wait_for_acked(1)
        assert len(ris.received) == 2
        assert ris.control_ids()[0] == ris.control_ids()[1]
        (row,) = await _wait_for_rows(gateway, state="delivered", count=1)
        assert row["attempts"] == 2 and "timeout" in row["last_error"]
    finally:
        await gateway.runner.cleanup()


async def test_ar_is_a_dead_letter_until_retried(database_url: str, ris: MllpReceiver) -> None:
    """AR dead-letters the row at once and holds the order's later rows back; a retry through
    the API delivers it with the same MSH-10, and then the rest follow in order."""
    rejecting = True

    def answer(_message: str) -> str:
        return "AR" if rejecting else "AA"

    ris.answer = answer
    gateway = await _gateway(database_url, ris, "2.3.1")
    try:
        await _order(gateway, "DEAD1")
        await _mpps(gateway, "DEAD1")
        await ris.wait_for_received(1)
        dead = await _wait_for_rows(gateway, state="dead", count=1)
        assert dead[0]["type"] == "exam_started" and dead[0]["last_error"].startswith("AR")
        pending = await _outbox(gateway, state="pending")
        assert [r["type"] for r in pending] == ["exam_completed"]
        assert len(ris.received) == 1, "nothing after a dead letter of the same order"
        async with aiohttp.ClientSession() as http, http.get(f"{gateway.http_url}/metrics") as m:
            exposition = await m.text()
        assert 'imaging_gateway_outbox_undelivered{destination="ris",state="dead"} 1.0' in (
            exposition
        )
        assert 'imaging_gateway_outbox_undelivered{destination="ris",state="pending"} 1.0' in (
            exposition
        )
        assert 'imaging_gateway_outbox_oldest_undelivered_seconds{destination="ris"}' in exposition
        rejecting = False
        url = f"{gateway.http_url}/api/v1/outbox/{dead[0]['id']}/retry"
        async with aiohttp.ClientSession() as http, http.post(url) as response:
            assert response.status == 200
            assert await response.json() == {"id": dead[0]["id"], "state": "pending"}
        await ris.wait_for_acked(2)
        await _wait_for_rows(gateway, state="delivered", count=2)
        assert ris.control_ids() == [dead[0]["event_id"], dead[0]["event_id"], ris.acked[1]]
        assert [fields_of(m, "ORC")[5] for m in ris.received] == ["IP", "IP", "CM"]
        async with aiohttp.ClientSession() as http, http.post(url) as response:
            assert response.status == 409  # delivered now: nothing to retry
    finally:
        await gateway.runner.cleanup()


async def _wait_for_rows(gateway: RunningGateway, *, state: str, count: int) -> list[dict]:
    """The rows in `state` once there are `count` of them (the API polled, as a client would)."""
    async with asyncio.timeout(30):
        for _ in range(1_000_000):
            if len(rows := await _outbox(gateway, state=state)) >= count:
                return rows
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def test_retry_of_unknown_row_is_404(database_url: str, ris: MllpReceiver) -> None:
    """Retrying a row that does not exist answers 404 problem+json."""
    gateway = await _gateway(database_url, ris, "2.3.1")
    try:
        url = f"{gateway.http_url}/api/v1/outbox/999999/retry"
        async with aiohttp.ClientSession() as http, http.post(url) as response:
            assert response.status == 404
    finally:
        await gateway.runner.cleanup()


__all__ = ["Answer"]


async def test_stopping_gives_claims_back(database_url: str, ris: MllpReceiver) -> None:
    """A gateway stopped while awaiting an ACK gives its claim back: the next one sends the
    message again at once (same MSH-10) instead of waiting out a ten-minute lease."""
    answering = False
    ris.answer = lambda _message: "AA" if answering else "silent"
    outbound = {**_outbound(ris.port), "lease": 600.0}
    settings = gateway_settings(database_url, outbound=outbound)
    first = await start_gateway(settings)
    try:
        await _order(first, "STOP1")
        await _mpps(first, "STOP1", complete=False)
        await ris.wait_for_received(1)
    finally:
        await first.runner.cleanup()
    answering = True
    second = await start_gateway(settings)
    try:
        await ris.wait_for_acked(1, timeout=30)
        assert ris.control_ids() == [ris.control_ids()[0]] * 2
    finally:
        await second.runner.cleanup()
