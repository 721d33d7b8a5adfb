"""The sender scorecard in the Integrity view of a real browser: its figures are the API's."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab
from tests.support.mllp_client import MllpClient

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
