"""The outbox across processes: kill -9 of the gateway mid-delivery loses nothing, and two
gateways on one PostgreSQL deliver each row once, in order per order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from store.engine import create_engine
from store.schema import outbox
from tests.support.gateway_process import gateway_process
from tests.support.mllp_client import MllpClient, segments
from tests.support.receivers import MllpReceiver, fields_of

LIFECYCLE = Path(__file__).parents[1] / "fixtures" / "hl7" / "lifecycle"
# The order, then its status changes IP and CM: two status updates owed to the RIS per order.
STEPS = ("02_orm_o01_nw.hl7", "05_orm_o01_sc_ip.hl7", "06_orm_o01_sc_cm.hl7")


def _message(name: str, number: int) -> bytes:
    """A lifecycle message for order `number`: its own patient, accession and control id."""
    text = (LIFECYCLE / name).read_bytes().decode("ascii")
    msh, rest = text.split("\r", 1)
    fields = msh.split("|")
    fields[9] = f"{fields[9]}-{number:03d}"  # MSH-10
    rest = (
        rest.replace("LCV0001", f"OPV{number:04d}")
        .replace("LC-MRN-1", f"OP-MRN-{number}")
        .replace("LC0001", f"OP{number:04d}")
    )
    return ("|".join(fields) + "\r" + rest).encode("ascii")


def _settings_file(folder: Path, ris_port: int, *, lease: float) -> Path:
    path = folder / "outbound.toml"
    path.write_text(
        f"""
[outbound]
poll_interval = 0.1
lease = {lease}
backoff_base = 0.1
backoff_max = 0.5

[[outbound.hl7]]
name = "ris"
host = "127.0.0.1"
port = {ris_port}
version = "2.3.1"
events = ["exam_started", "exam_completed"]
receiving_application = "RIS"
receiving_facility = "HOSP"
ack_timeout = {lease / 2}
""",
        encoding="utf-8",
    )
    return path


async def _send(port: int, numbers: list[int]) -> None:
    client = await MllpClient.connect("127.0.0.1", port)
    try:
        for number in numbers:
            for step in STEPS:
                ack = segments(await client.send(_message(step, number), timeout=60))
                assert ack["MSA"][1] == "AA", ack
    finally:
        await client.close()


async def _outbox_rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(outbox).order_by(outbox.c.id))
            return [dict(row) for row in result.mappings()]
    finally:
        await engine.dispose()


async def _until_all_delivered(database_url: str) -> None:
    """Wait until the store records every row delivered (the last ACK's record follows it)."""
    async with asyncio.timeout(30):
        for _ in range(1_000_000):
            if all(r["state"] == "delivered" for r in await _outbox_rows(database_url)):
                return
            await asyncio.sleep(0.1)


def _check_order(received: list[str]) -> dict[tuple[str, str], set[str]]:
    """Each order's IP arrived (first) before its CM; the control ids per (order, status)."""
    first: dict[tuple[str, str], int] = {}
    ids: dict[tuple[str, str], set[str]] = {}
    for index, message in enumerate(received):
        key = (fields_of(message, "OBR")[18], fields_of(message, "ORC")[5])
        first.setdefault(key, index)
        ids.setdefault(key, set()).add(fields_of(message, "MSH")[10])
    for accession, status in first:
        if status == "CM":
            assert first[accession, "IP"] < first[accession, "CM"], accession
    return ids


@pytest.mark.slow
async def test_kill_9_mid_delivery_loses_nothing(database_url: str, tmp_path: Path) -> None:
    """The RIS holds back one ACK and the gateway is killed waiting for it; a new process
    delivers every committed row, the unanswered one again with the same MSH-10."""
    orders = 12
    answered = 0
    holding = True

    def answer(_message: str) -> str:
        nonlocal answered
        answered += 1
        return "silent" if holding and answered > 5 else "AA"

    ris = MllpReceiver(answer=answer)
    await ris.start()
    env = {"IMAGING_GW_CONFIG": str(_settings_file(tmp_path, ris.port, lease=4.0))}
    try:
        async with gateway_process(database_url, tmp_path, env) as gateway:
            await _send(gateway.ports["mllp"], list(range(orders)))
            await ris.wait_for_received(6)
            gateway.process.kill()  # SIGKILL while an ACK is awaited
            await gateway.process.wait()
        in_flight = ris.control_ids()[5]
        holding = False
        async with gateway_process(database_url, tmp_path, env):
            await ris.wait_for_acked(orders * 2, timeout=60)
            await _until_all_delivered(database_url)
    finally:
        await ris.close()
    rows = await _outbox_rows(database_url)
    assert len(rows) == orders * 2
    assert {r["event_id"] for r in rows} == set(ris.acked)
    assert ris.control_ids().count(in_flight) >= 2, "the unanswered message was sent again"
    ids = _check_order(ris.received)
    assert all(len(control_ids) == 1 for control_ids in ids.values()), "resent with a new id"


@pytest.mark.slow
async def test_two_gateways_deliver_each_row_once(database_url: str, tmp_path: Path) -> None:
    """Two processes on one PostgreSQL, fed at once, send every status update exactly once,
    IP before CM for each order."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several gateway processes share a PostgreSQL database only")
    orders = 30
    ris = MllpReceiver()
    await ris.start()
    env = {"IMAGING_GW_CONFIG": str(_settings_file(tmp_path, ris.port, lease=30.0))}
    try:
        async with (
            gateway_process(database_url, tmp_path, env) as gateway_a,
            gateway_process(database_url, tmp_path, env) as gateway_b,
        ):
            numbers = list(range(orders))
            await asyncio.gather(
                _send(gateway_a.ports["mllp"], numbers[0::2]),
                _send(gateway_b.ports["mllp"], numbers[1::2]),
            )
            await ris.wait_for_acked(orders * 2, timeout=60)
            await _until_all_delivered(database_url)
            claimers = {r["claimed_by"] for r in await _outbox_rows(database_url)}
    finally:
        await ris.close()
    assert len(ris.received) == len(set(ris.control_ids())) == orders * 2
    assert all(len(ids) == 1 for ids in _check_order(ris.received).values())
    assert len(claimers) == 2, "both processes delivered"
