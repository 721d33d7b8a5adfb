"""Two gateway processes on one PostgreSQL, fed the same patients' messages at once: every
message lands once, no order or patient is made twice, no milestone is lost, and the figure
rows' bucket counts add up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.engine import create_engine
from store.schema import messages, order_timeline, orders, patients
from tests.store.readmodels.test_read_models import counted_by_definition, kept_counts
from tests.support.gateway_process import gateway_process
from tests.support.mllp_client import MllpClient, segments

LIFECYCLE = sorted((Path(__file__).parents[1] / "fixtures" / "hl7" / "lifecycle").glob("*.hl7"))
ORDERS = 60
CONNECTIONS = 4  # per process
MILESTONES = {
    "ordered_at",
    "scheduled_at",
    "arrived_at",
    "exam_started_at",
    "exam_completed_at",
    "preliminary_report_at",
    "final_report_at",
}


def _message(path: Path, number: int) -> bytes:
    """A lifecycle message for order `number`: its own patient, accession and control id."""
    text = path.read_bytes().decode("ascii")
    msh, rest = text.split("\r", 1)
    fields = msh.split("|")
    fields[9] = f"{fields[9]}-{number:03d}"  # MSH-10
    rest = (
        rest.replace("LCV0001", f"TPV{number:04d}")
        .replace("LC-MRN-1", f"TP-MRN-{number}")
        .replace("LC0001", f"TP{number:04d}")
    )
    return ("|".join(fields) + "\r" + rest).encode("ascii")


async def _send(port: int, batches: list[list[bytes]]) -> None:
    client = await MllpClient.connect("127.0.0.1", port)
    try:
        for batch in batches:
            for payload in batch:
                ack = segments(await client.send(payload, timeout=60))
                assert ack["MSA"][1] == "AA", ack
    finally:
        await client.close()


@pytest.mark.slow
async def test_two_gateways_folding_the_same_orders_lose_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """A gets each order's first half and B its second half plus the order, all at once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several gateway processes share a PostgreSQL database only")
    first_half, second_half = LIFECYCLE[:4], LIFECYCLE[4:]
    to_a = [[_message(p, n) for p in first_half] for n in range(ORDERS)]
    # The same order message to both: exactly one must be kept, and counted twice.
    to_b = [
        [_message(LIFECYCLE[1], n)] + [_message(p, n) for p in second_half] for n in range(ORDERS)
    ]

    async with (
        gateway_process(database_url, tmp_path) as gateway_a,
        gateway_process(database_url, tmp_path) as gateway_b,
    ):
        port_a, port_b = gateway_a.ports["mllp"], gateway_b.ports["mllp"]
        await asyncio.gather(
            *(_send(port_a, to_a[i::CONNECTIONS]) for i in range(CONNECTIONS)),
            *(_send(port_b, to_b[i::CONNECTIONS]) for i in range(CONNECTIONS)),
        )

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(orders))).mappings().all()
            patient_count = await conn.scalar(select(func.count()).select_from(patients))
            logged = (
                await conn.execute(
                    select(
                        messages.c.control_id, func.count(), func.sum(messages.c.receive_count)
                    ).group_by(messages.c.control_id)
                )
            ).all()
            moves = (
                await conn.execute(
                    select(
                        order_timeline.c.order_id, order_timeline.c.milestone, func.count()
                    ).group_by(order_timeline.c.order_id, order_timeline.c.milestone)
                )
            ).all()
            counts = await conn.run_sync(kept_counts)
            expected_counts = await conn.run_sync(counted_by_definition)
    finally:
        await engine.dispose()

    assert len(rows) == len({r["accession"] for r in rows}) == ORDERS
    assert patient_count == ORDERS
    assert all(row["status"] == "final_report" for row in rows)
    lost = [(row["accession"], m) for row in rows for m in MILESTONES if row[m] is None]
    assert lost == []
    assert len(logged) == ORDERS * len(LIFECYCLE)
    assert all(count == 1 for _, count, _ in logged)
    sent_twice = {cid for cid, _, received in logged if received == 2}
    assert len(sent_twice) == ORDERS and all(cid.startswith("LC-ORM-0001") for cid in sent_twice)
    assert len(moves) == ORDERS * len(MILESTONES)
    assert counts == expected_counts and counts[1]  # both processes' counts added up
