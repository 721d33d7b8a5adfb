"""DICOM with a real pynetdicom SCU against a running gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from sqlalchemy import Table, select

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from store.schema import devices, instances, messages, procedure_steps, series, studies
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient

ORDERED = "20260302090000"


def scu(gateway: RunningGateway, ae_title: str = "MODALITY1") -> Scu:
    return Scu(gateway.app[DICOM_LISTENER].port, ae_title=ae_title)


async def send_order(gateway: RunningGateway, accession: str, **keys: str) -> None:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    message = orm_new_order(
        accession, control_id=f"C-{accession}", **{"ordered_at": ORDERED, **keys}
    )
    ack = await client.send(message)
    await client.close()
    assert b"MSA|AA|" in ack


async def order(gateway: RunningGateway, accession: str) -> dict:
    url = f"{gateway.http_url}/api/v1/orders/{accession}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.json()


async def rows(gateway: RunningGateway, table: Table) -> list[dict]:
    async with gateway.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(select(table))).mappings()]


def worklist_query(**step: str) -> Dataset:
    """A typical modality query: patient, accession, study UID, and the step's keys."""
    identifier = Dataset()
    for keyword in (
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "ReferringPhysicianName",
    ):
        setattr(identifier, keyword, "")
    sps = Dataset()
    for keyword in (
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
    ):
        setattr(sps, keyword, step.get(keyword, ""))
    identifier.ScheduledProcedureStepSequence = [sps]
    for keyword, value in step.items():
        if keyword not in sps:
            setattr(identifier, keyword, value)
    return identifier


async def test_c_echo_succeeds(gateway: RunningGateway) -> None:
    """Verification: C-ECHO answers success."""
    assert await asyncio.to_thread(scu(gateway).echo) == 0x0000


async def test_an_image_is_indexed_and_makes_images_available(gateway: RunningGateway) -> None:
    """C-STORE of an order's image: indexed by study, series, instance and device; the order
    gets images_available; success only once it is committed."""
    await send_order(gateway, "ACC0001")
    image = fx.ct_instance(accession="ACC0001")
    assert await asyncio.to_thread(scu(gateway).store, image) == [0x0000]
    (study,) = await rows(gateway, studies)
    (one_series,) = await rows(gateway, series)
    (instance,) = await rows(gateway, instances)
    (device,) = await rows(gateway, devices)
    assert (study["study_instance_uid"], study["accession"]) == (image.StudyInstanceUID, "ACC0001")
    assert study["order_id"] is not None and study["instance_count"] == 1
    assert study["description"] == "CT CHEST W/O CONTRAST"
    assert (one_series["series_instance_uid"], one_series["modality"]) == (
        image.SeriesInstanceUID,
        "CT",
    )
    assert one_series["body_part"] == "CHEST"
    assert (instance["sop_instance_uid"], instance["sop_class_uid"]) == (
        image.SOPInstanceUID,
        image.SOPClassUID,
    )
    assert (device["ae_title"], device["station_name"], device["manufacturer"]) == (
        "MODALITY1",
        "CT-ROOM-1",
        "ACME Medical",
    )
    assert (device["model"], device["serial_number"]) == ("Tomograph 64", "SN-4711")
    assert "images_available" in (await order(gateway, "ACC0001"))["milestones"]


async def test_the_same_instance_twice_is_counted_once(gateway: RunningGateway) -> None:
    """A resent instance is acknowledged again and changes no count."""
    image = fx.ct_instance(accession="ACC0002")
    assert await asyncio.to_thread(scu(gateway).store, image, image) == [0, 0]
    (study,) = await rows(gateway, studies)
    assert study["instance_count"] == 1


async def test_a_study_for_no_order_is_kept_unmatched_then_linked(
    gateway: RunningGateway,
) -> None:
    """Images before their order: kept unmatched; the order, when it comes, links them."""
    await asyncio.to_thread(scu(gateway).store, fx.ct_instance(accession="LATE1"))
    (study,) = await rows(gateway, studies)
    assert study["order_id"] is None
    await send_order(gateway, "LATE1")
    (study,) = await rows(gateway, studies)
    assert study["order_id"] is not None
    assert "images_available" in (await order(gateway, "LATE1"))["milestones"]


async def test_a_dataset_without_its_uids_is_refused_and_the_ae_serves_on(
    gateway: RunningGateway,
) -> None:
    """No Study Instance UID: a failure status (0xA900), logged; the next store succeeds."""
    broken = fx.ct_instance(accession="BAD1")
    del broken.StudyInstanceUID
    good = fx.ct_instance(accession="GOOD1")
    assert await asyncio.to_thread(scu(gateway).store, broken, good) == [0xA900, 0x0000]
    logged = await rows(gateway, messages)
    assert sorted(m["outcome"] for m in logged) == ["applied", "rejected"]
    assert len(await rows(gateway, instances)) == 1


async def test_mpps_in_progress_then_completed_sets_the_exam_times(
    gateway: RunningGateway,
) -> None:
    """N-CREATE then N-SET COMPLETED: exam_started and exam_completed at the step's own times,
    linked to the order and to the performing device."""
    await send_order(gateway, "ACC0003")
    modality = scu(gateway, "CT01")
    created = fx.mpps_n_create(
        accession="ACC0003", station_ae="CT01", start=datetime(2026, 3, 2, 9, 30)
    )
    assert await asyncio.to_thread(modality.n_create, "1.2.826.0.1.3", created) == (0, "")
    done = fx.mpps_n_set(status="COMPLETED", end=datetime(2026, 3, 2, 9, 52))
    assert await asyncio.to_thread(modality.n_set, "1.2.826.0.1.3", done) == (0, "")
    exam = await order(gateway, "ACC0003")
    assert exam["milestones"]["exam_started"] == "2026-03-02T09:30:00+00:00"
    assert exam["milestones"]["exam_completed"] == "2026-03-02T09:52:00+00:00"
    (step,) = await rows(gateway, procedure_steps)
    (device,) = await rows(gateway, devices)
    assert (step["status"], step["station_ae_title"], step["device_id"]) == (
        "COMPLETED",
        "CT01",
        device["id"],
    )
    assert step["order_id"] is not None


async def test_mpps_failures_follow_ps3_4(gateway: RunningGateway) -> None:
    """N-SET before N-CREATE 0x0112, a second N-CREATE 0x0111, N-SET after COMPLETED 0x0110,
    a missing required attribute 0x0120; the AE keeps serving."""
    modality = scu(gateway, "CT01")
    assert (await asyncio.to_thread(modality.n_set, "1.2.9", fx.mpps_n_set()))[0] == 0x0112
    created = fx.mpps_n_create(accession="ACC0004")
    assert (await asyncio.to_thread(modality.n_create, "1.2.9", created))[0] == 0x0000
    again = fx.mpps_n_create(accession="ACC0004", start=datetime(2026, 3, 2, 9, 31))
    assert (await asyncio.to_thread(modality.n_create, "1.2.9", again))[0] == 0x0111
    assert (await asyncio.to_thread(modality.n_set, "1.2.9", fx.mpps_n_set()))[0] == 0x0000
    late = fx.mpps_n_set(status="DISCONTINUED")
    assert (await asyncio.to_thread(modality.n_set, "1.2.9", late))[0] == 0x0110
    incomplete = fx.mpps_n_create(accession="ACC0005")
    del incomplete.PerformedProcedureStepStartDate
    assert (await asyncio.to_thread(modality.n_create, "1.2.10", incomplete))[0] == 0x0120
    assert await asyncio.to_thread(modality.echo) == 0x0000


async def test_the_worklist_shows_hl7_orders_until_their_step_completes(
    gateway: RunningGateway,
) -> None:
    """An order from HL7 is on the worklist with its demographics and study UID; once its MPPS
    completes it is gone; a cancelled order is gone too."""
    await send_order(gateway, "WL1", family="MÜLLER", given="JÖRG")
    await send_order(gateway, "WL2", patient_id="MRN0002", modality="MR")
    modality = scu(gateway, "CT01")
    found, final = await asyncio.to_thread(modality.find, worklist_query(Modality="CT"))
    assert final == 0x0000
    assert [item.AccessionNumber for item in found] == ["WL1"]
    item = found[0]
    assert str(item.PatientName) == "MÜLLER^JÖRG^Q"
    assert item.PatientID == "MRN0001"
    assert item.StudyInstanceUID == (await order(gateway, "WL1"))["study_instance_uid"]
    assert item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20260302"

    created = fx.mpps_n_create(accession="WL1", station_ae="CT01")
    await asyncio.to_thread(modality.n_create, "1.2.11", created)
    await asyncio.to_thread(modality.n_set, "1.2.11", fx.mpps_n_set())
    found, _ = await asyncio.to_thread(modality.find, worklist_query())
    assert [item.AccessionNumber for item in found] == ["WL2"]

    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    cancel = orm_new_order("WL2", control_id="C-WL2-CA", patient_id="MRN0002").replace(
        b"ORC|NW|", b"ORC|CA|"
    )
    assert b"MSA|AA|" in await client.send(cancel)
    await client.close()
    found, _ = await asyncio.to_thread(modality.find, worklist_query())
    assert found == []


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"AccessionNumber": "WL4"}, ["WL4"]),
        ({"PatientName": "smi*"}, ["WL4"]),
        ({"PatientName": "DO?^JANE*"}, ["WL3"]),
        ({"PatientID": "MRN0003"}, ["WL3"]),
        ({"Modality": "MR"}, ["WL4"]),
        ({"ScheduledProcedureStepStartDate": "20260302"}, ["WL3"]),
        ({"ScheduledProcedureStepStartDate": "20260303-"}, ["WL4"]),
        ({"ScheduledProcedureStepStartDate": "20260301-20260304"}, ["WL3", "WL4"]),
        ({"ScheduledProcedureStepStartDate": "20260305-"}, []),
    ],
)
async def test_worklist_matching_keys(
    gateway: RunningGateway, keys: dict[str, str], expected: list[str]
) -> None:
    """Accession, patient (wildcards, case-insensitive), modality and date ranges narrow it."""
    await send_order(gateway, "WL3", patient_id="MRN0003")
    await send_order(
        gateway,
        "WL4",
        patient_id="MRN0004",
        family="SMITH",
        given="ANN",
        modality="MR",
        ordered_at="20260303101500",
    )
    found, final = await asyncio.to_thread(scu(gateway).find, worklist_query(**keys))
    assert final == 0x0000
    assert [item.AccessionNumber for item in found] == expected


@pytest.fixture
async def guarded_gateway(database_url: str, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    """A gateway that accepts only two AE titles, lets only CT01 store, keeps files."""
    settings = gateway_settings(
        database_url,
        dicom={
            "calling_aes": ("CT01", "MR01"),
            "storage_calling_aes": ("CT01",),
            "storage_dir": tmp_path / "dicom",
        },
    )
    running = await start_gateway(settings)
    yield running
    await running.runner.cleanup()


async def test_strangers_are_rejected_and_the_ae_serves_on(
    guarded_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown calling AE is rejected at association, with one INFO line naming it and
    its peer; a known one that may not store gets 0x0124; the allowed one stores, and its
    file is written whole."""
    with caplog.at_level(logging.INFO, logger="listeners.dicom"):
        assert not await asyncio.to_thread(scu(guarded_gateway, "STRANGER").associates)
    (line,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert "STRANGER at 127.0.0.1:" in line.getMessage()
    image = fx.ct_instance(accession="ACC0006")
    assert await asyncio.to_thread(scu(guarded_gateway, "MR01").store, image) == [0x0124]
    assert await asyncio.to_thread(scu(guarded_gateway, "CT01").store, image) == [0x0000]
    (instance,) = await rows(guarded_gateway, instances)
    written = pydicom.dcmread(instance["stored_path"])
    assert written.SOPInstanceUID == image.SOPInstanceUID
    assert Path(instance["stored_path"]).parent.name == image.SeriesInstanceUID
    assert not list(Path(instance["stored_path"]).parent.glob("*.part"))


class _CancellingFind:
    """A C-FIND event whose SCU cancels after the first answer (as pynetdicom reports it)."""

    def __init__(self, identifier: Dataset) -> None:
        self.identifier = identifier
        self.answers = 0
        self.assoc = SimpleNamespace(requestor=SimpleNamespace(ae_title="MODALITY1"))
        self.context = SimpleNamespace(transfer_syntax=ImplicitVRLittleEndian)

    @property
    def is_cancelled(self) -> bool:
        return self.answers >= 1


async def test_c_cancel_stops_a_worklist_query(gateway: RunningGateway) -> None:
    """Once the SCU has cancelled, the handler stops answering and ends with Cancel (0xFE00).

    Over the network every answer of a small worklist leaves before the C-CANCEL arrives, so
    the handler is driven directly, on a pynetdicom-like thread, against the running store.
    """
    for number in range(5):
        await send_order(gateway, f"CX{number:02d}", patient_id=f"P{number}")
    listener = gateway.app[DICOM_LISTENER]
    event = _CancellingFind(worklist_query())

    def drive() -> list[int]:
        statuses = []
        for answer_status, _ in listener._on_find(event):
            statuses.append(int(answer_status))
            event.answers += 1
        return statuses

    assert await asyncio.to_thread(drive) == [0xFF00, 0xFE00]
