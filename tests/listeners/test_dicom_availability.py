"""Instance Availability Notifications from a real pynetdicom SCU (a PACS), then what the REST
and FHIR APIs show, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from fixtures import dicom as fx
from store.schema import devices, instances, messages, series, studies
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.listeners.test_dicom import order, rows, scu, send_order

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SERIES = "1.2.826.0.1.3680043.8.498.7.1"


async def study_of(gateway: RunningGateway, study_uid: str) -> dict:
    """The ImagingStudy as the FHIR API shows it, found by its Study Instance UID."""
    url = f"{gateway.http_url}/fhir/ImagingStudy"
    params = {"identifier": f"urn:dicom:uid|urn:oid:{study_uid}"}
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
        assert response.status == 200
        bundle = await response.json()
    (entry,) = bundle["entry"]
    return entry["resource"]


async def test_an_ian_makes_the_orders_images_available(gateway: RunningGateway) -> None:
    """A PACS's IAN for the order's study sets images_available at its arrival, in the
    timeline with its message, and the study, series and instances are indexed, no device."""
    await send_order(gateway, "IAN1")
    study_uid = (await order(gateway, "IAN1"))["study_instance_uid"]
    ian = fx.availability_notification(
        study_uid,
        {
            SERIES: [
                (f"{SERIES}.1", "ONLINE"),
                (f"{SERIES}.2", "ONLINE"),
                (f"{SERIES}.3", "OFFLINE"),
            ]
        },
    )
    pacs = scu(gateway, "PACS")
    assert await asyncio.to_thread(pacs.ian, "1.2.826.0.1.3680043.8.498.99.1", ian) == (0, "")

    exam = await order(gateway, "IAN1")
    assert exam["status"] == "images_available"
    available = exam["milestones"]["images_available"]
    assert available is not None
    entries = [e for e in exam["timeline"] if e["milestone"] == "images_available"]
    assert len(entries) == 1 and entries[0]["occurred_at"] == available
    assert (entries[0]["message_type"], entries[0]["control_id"]) == (
        "IAN",
        "IAN:1.2.826.0.1.3680043.8.498.99.1",
    )
    study = await study_of(gateway, study_uid)
    assert study["numberOfSeries"] == 1 and study["numberOfInstances"] == 2
    assert study["basedOn"][0]["reference"].startswith("ServiceRequest/")
    assert await rows(gateway, devices) == []
    (logged,) = [m for m in await rows(gateway, messages) if m["message_type"] == "IAN"]
    assert (logged["outcome"], logged["sending_application"]) == ("applied", "PACS")
    assert logged["control_id"] == "IAN:1.2.826.0.1.3680043.8.498.99.1"

    # The PACS resends (its answer was lost): success again, nothing changes.
    assert await asyncio.to_thread(pacs.ian, "1.2.826.0.1.3680043.8.498.99.1", ian) == (0, "")
    assert len(await rows(gateway, instances)) == 2


async def test_an_ian_links_through_the_mpps_it_references(gateway: RunningGateway) -> None:
    """A study UID the order does not know is linked through the referenced MPPS."""
    await send_order(gateway, "IAN2")
    modality = scu(gateway, "CT01")
    created = fx.mpps_n_create(accession="IAN2", station_ae="CT01")
    assert (await asyncio.to_thread(modality.n_create, "1.2.826.0.1.3680043.8.498.5", created))[
        0
    ] == 0
    ian = fx.availability_notification(
        "1.2.826.0.1.3680043.8.498.55",
        {SERIES: [(f"{SERIES}.1", "NEARLINE")]},
        performed_step="1.2.826.0.1.3680043.8.498.5",
    )
    assert await asyncio.to_thread(
        scu(gateway, "PACS").ian, "1.2.826.0.1.3680043.8.498.99.2", ian
    ) == (0, "")
    exam = await order(gateway, "IAN2")
    assert exam["milestones"]["images_available"] is not None
    async with gateway.engine.connect() as conn:
        study = (await conn.execute(select(studies))).mappings().one()
    assert study["order_id"] is not None


async def test_bad_ians_get_a_failure_with_a_comment_and_the_ae_serves_on(
    gateway: RunningGateway,
) -> None:
    """A missing study UID is 0x0120, an unknown availability 0x0106, each with an error
    comment and kept in the message log as rejected; the AE answers the next request."""
    pacs = scu(gateway, "PACS")
    missing = fx.availability_notification("1.2.3", {SERIES: [(f"{SERIES}.1", "ONLINE")]})
    del missing.StudyInstanceUID
    status, comment = await asyncio.to_thread(pacs.ian, "1.2.826.0.1.3680043.8.498.99.3", missing)
    assert status == 0x0120 and "StudyInstanceUID" in comment
    odd = fx.availability_notification("1.2.3", {SERIES: [(f"{SERIES}.1", "SOMEWHERE")]})
    status, comment = await asyncio.to_thread(pacs.ian, "1.2.826.0.1.3680043.8.498.99.4", odd)
    assert status == 0x0106 and comment
    assert await asyncio.to_thread(pacs.echo) == 0
    refused = [m for m in await rows(gateway, messages) if m["message_type"] == "IAN"]
    assert [m["outcome"] for m in refused] == ["rejected", "rejected"]
    assert await rows(gateway, series) == []


async def test_ian_from_a_title_outside_ian_calling_aes_is_not_authorized(
    database_url: str,
) -> None:
    """With `ian_calling_aes` set, another title's IAN is refused 0x0124."""
    settings = gateway_settings(database_url, dicom={"ian_calling_aes": ("PACS",)})
    running = await start_gateway(settings)
    try:
        ian = fx.availability_notification("1.2.3", {SERIES: [(f"{SERIES}.1", "ONLINE")]})
        answer = await asyncio.to_thread(scu(running, "OTHER").ian, "1.2.826.0.1.3", ian)
        assert answer[0] == 0x0124
        answer = await asyncio.to_thread(scu(running, "PACS").ian, "1.2.826.0.1.3", ian)
        assert answer == (0, "")
    finally:
        await running.runner.cleanup()


async def test_an_announced_instance_then_stored_keeps_how_it_came(
    gateway: RunningGateway,
) -> None:
    """IAN first, then the modality's C-STORE of that instance: one instance, with the
    transfer syntax the C-STORE brought and the series' modality from the image."""
    study_uid, series_uid, sop_uid = "1.2.826.0.1.3680043.8.498.61", SERIES, f"{SERIES}.1"
    ian = fx.availability_notification(study_uid, {series_uid: [(sop_uid, "ONLINE")]})
    assert await asyncio.to_thread(
        scu(gateway, "PACS").ian, "1.2.826.0.1.3680043.8.498.99.6", ian
    ) == (0, "")
    image = fx.ct_instance(study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    assert await asyncio.to_thread(scu(gateway, "CT01").store, image) == [0]
    (instance,) = await rows(gateway, instances)
    assert instance["transfer_syntax"] == "1.2.840.10008.1.2"
    (only,) = await rows(gateway, series)
    assert (only["modality"], only["instance_count"]) == ("CT", 1)
