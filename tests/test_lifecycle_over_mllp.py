"""A whole exam over real MLLP, from registration to final report, in order and shuffled."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient, segments

LIFECYCLE = sorted((Path(__file__).parents[1] / "fixtures" / "hl7" / "lifecycle").glob("*.hl7"))

# Read off the files by hand: each milestone, its time (facility time UTC here), the message.
EXPECTED_TIMELINE = [
    ("ordered", "2026-03-02T08:00:00+00:00", "LC-ORM-0001"),
    ("scheduled", "2026-03-02T08:05:00+00:00", "LC-SIU-0001"),
    ("arrived", "2026-03-02T08:25:00+00:00", "LC-ADT-0002"),
    ("exam_started", "2026-03-02T08:32:00+00:00", "LC-ORM-0002"),
    ("exam_completed", "2026-03-02T08:47:00+00:00", "LC-ORM-0003"),
    ("preliminary_report", "2026-03-02T09:10:00+00:00", "LC-ORU-0001"),
    ("final_report", "2026-03-02T09:40:00+00:00", "LC-ORU-0002"),
]


async def _replay(gateway: RunningGateway, files: list[Path]) -> dict:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    for path in files:
        ack = segments(await client.send(path.read_bytes()))
        assert ack["MSA"][1] in ("AA", "CA"), (path.name, ack)
    await client.close()
    url = f"{gateway.http_url}/api/v1/orders/LC0001"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.json()


def _timeline(order: dict) -> list[tuple[str, str, str]]:
    return [(t["milestone"], t["occurred_at"], t["control_id"]) for t in order["timeline"]]


async def test_the_lifecycle_in_order_shows_every_milestone_with_its_message(
    gateway: RunningGateway,
) -> None:
    """Sent in order, the order's timeline holds each milestone, its time and its message."""
    assert len(LIFECYCLE) == 8
    order = await _replay(gateway, LIFECYCLE)
    assert order["status"] == "final_report"
    assert _timeline(order) == EXPECTED_TIMELINE
    assert order["patient"]["identifier"] == "LC-MRN-1"
    assert order["scheduled_resource"] == "CT_ROOM_1"
    assert [r["status"] for r in order["reports"]] == ["preliminary", "final"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_lifecycle_shuffled_ends_the_same(gateway: RunningGateway, seed: int) -> None:
    """Sent in a random order, the same final status, milestones and source messages."""
    files = list(LIFECYCLE)
    random.Random(seed).shuffle(files)
    assert files != LIFECYCLE
    order = await _replay(gateway, files)
    assert order["status"] == "final_report"
    assert sorted(_timeline(order)) == sorted(EXPECTED_TIMELINE)
    assert order["milestones"] == {m: t for m, t, _ in EXPECTED_TIMELINE}
    assert order["procedure_code"] == "71250" and order["modality"] == "CT"
