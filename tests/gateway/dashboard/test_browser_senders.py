"""The quality desk in the Integrity view of a real browser: the sender scorecard and dose per
protocol show the API's figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient


def _recent(minutes: int) -> datetime:
    """A time that many minutes ago, as a modality writes it (facility time, UTC here)."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(tzinfo=None)


pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def _scorecard(gateway: RunningGateway) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway.http_url}/api/v1/quality/senders") as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def test_the_integrity_view_shows_each_senders_scorecard(
    tab: Tab, day: RunningGateway
) -> None:
    """A row per sender; messages, refused share, missing fields and resends as the API says."""
    client = await MllpClient.connect("127.0.0.1", day.mllp_port)
    refused = (
        b"MSH|^~\\&|EHR|CLINIC|IMAGING_GW|RADIOLOGY|20261122083000||ORM^O01|Q1|P|2.3.1\rPID|1\r"
    )
    await client.send(refused)
    await client.send(refused)  # a resend
    await client.close()
    card = await _scorecard(day)
    senders = {
        "^".join(p for p in (s["sending_application"], s["sending_facility"]) if p)
        or "(unknown)": s
        for s in card["items"]
    }
    assert "EHR^CLINIC" in senders
    page = await tab.open("integrity")
    rows = page.locator("#sender-scorecard tbody tr")
    assert await rows.count() == len(senders)
    for name, score in senders.items():
        cell = f"#sender-scorecard [data-sender='{name}']"
        assert await page.text_content(f"{cell}[data-col='messages']") == str(score["messages"])
        assert await page.text_content(f"{cell}[data-col='resends']") == str(score["resends"])
        refused_share = f"{round(score['refused_share'] * 100)} %"
        assert await page.text_content(f"{cell}[data-col='refused']") == refused_share
    ehr = "#sender-scorecard [data-sender='EHR^CLINIC']"
    assert await page.text_content(f"{ehr}[data-col='refused']") == "100 %"
    assert await page.text_content(f"{ehr}[data-col='resends']") == "1"
    assert "PV1-2 1" in (await page.text_content(f"{ehr}[data-col='missing']") or "")
    await tab.screenshot("integrity-senders")


async def test_the_integrity_view_shows_dose_per_protocol(tab: Tab, day: RunningGateway) -> None:
    """An exam's MPPS dose shows in its protocol's row, as the API gives it."""
    client = await MllpClient.connect("127.0.0.1", day.mllp_port)
    await client.send(orm_new_order("DOSE1", control_id="DOSE1", procedure_code="70450"))
    await client.close()
    scu = Scu(day.app[DICOM_LISTENER].port, ae_title="CT_DOSE")
    started = fx.mpps_n_create(accession="DOSE1", station_ae="CT_DOSE", start=_recent(60))
    assert (await asyncio.to_thread(scu.n_create, "1.2.826.0.9.77.1", started))[0] == 0
    done = fx.mpps_n_set(ct_acquisitions=[(12.34, 456.0)], total_dlp=456.0, end=_recent(45))
    assert (await asyncio.to_thread(scu.n_set, "1.2.826.0.9.77.1", done))[0] == 0
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{day.http_url}/api/v1/dose", params={"group_by": "protocol"}) as response,
    ):
        dose = await response.json()
    head = next(g for g in dose["groups"] if g["group"] == "CT/70450")
    page = await tab.open("integrity")
    assert await page.locator("#dose-table tbody tr").count() == len(dose["groups"])
    cell = "#dose-table [data-protocol='CT/70450']"
    assert await page.text_content(f"{cell}[data-col='exams']") == str(head["exams"])
    assert await page.text_content(f"{cell}[data-col='ctdivol-p50']") == "12.3"
    assert await page.text_content(f"{cell}[data-col='dlp-p75']") == "456.0"
    await tab.screenshot("integrity-dose")
