"""A modality's day with one exam: HL7 order, worklist, MPPS, images, and the timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
from pydicom.dataset import Dataset

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from tests.conftest import RunningGateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient


async def test_worklist_mpps_and_images_fill_the_timeline(gateway: RunningGateway) -> None:
    """ordered -> exam_started -> exam_completed -> images_available, each from its message."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    assert b"MSA|AA|" in await client.send(
        orm_new_order("MOD1", control_id="ORM-MOD1", ordered_at="20260302090000")
    )
    await client.close()
    modality = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT01")

    query = Dataset()
    query.AccessionNumber = query.StudyInstanceUID = query.PatientID = ""
    step = Dataset()
    step.Modality, step.ScheduledProcedureStepStartDate = "CT", "20260302"
    query.ScheduledProcedureStepSequence = [step]
    (entry,), _ = await asyncio.to_thread(modality.find, query)
    assert entry.AccessionNumber == "MOD1"

    started = fx.mpps_n_create(
        accession="MOD1",
        study_uid=entry.StudyInstanceUID,
        station_ae="CT01",
        start=datetime(2026, 3, 2, 9, 30),
    )
    assert (await asyncio.to_thread(modality.n_create, "1.2.826.0.9.1", started))[0] == 0
    images = [
        fx.ct_instance(accession="MOD1", study_uid=entry.StudyInstanceUID, instance_number=n)
        for n in (1, 2, 3)
    ]
    before = datetime.now(UTC)
    assert await asyncio.to_thread(modality.store, *images) == [0, 0, 0]
    after = datetime.now(UTC)
    done = fx.mpps_n_set(status="COMPLETED", end=datetime(2026, 3, 2, 9, 52))
    assert (await asyncio.to_thread(modality.n_set, "1.2.826.0.9.1", done))[0] == 0

    url = f"{gateway.http_url}/api/v1/orders/MOD1"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        order = await response.json()
    timeline = [(t["milestone"], t["occurred_at"], t["control_id"]) for t in order["timeline"]]
    assert [m for m, _, _ in timeline] == [
        "ordered",
        "exam_started",
        "exam_completed",
        "images_available",
    ]
    assert timeline[0] == ("ordered", "2026-03-02T09:00:00+00:00", "ORM-MOD1")
    assert timeline[1] == ("exam_started", "2026-03-02T09:30:00+00:00", "N-CREATE:1.2.826.0.9.1")
    assert timeline[2] == ("exam_completed", "2026-03-02T09:52:00+00:00", "N-SET:1.2.826.0.9.1")
    # Images are available when the gateway has them: their arrival, carried by the C-STORE.
    assert timeline[3][2] == images[0].SOPInstanceUID
    assert before <= datetime.fromisoformat(timeline[3][1]) <= after
    assert order["status"] == "images_available"
