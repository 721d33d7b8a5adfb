"""Every view of the dashboard in a real browser: the numbers shown equal the API's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from fixtures.messages import orm_new_order
from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab
from tests.support.mllp_client import MllpClient

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def api(gateway: RunningGateway, path: str, **params: Any) -> Any:
    """GET an API route's JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.http_url + path, params=params) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def test_now_shows_the_boards_numbers_and_a_new_order_within_two_seconds(
    tab: Tab, day: RunningGateway
) -> None:
    """Counts by state and modality and each list equal the board; an ORM sent over MLLP shows
    without a reload, pushed by the commit stream, within 2 s."""
    page = await tab.open("now")
    board = await api(day, "/api/v1/flow/board", limit=500)
    assert sum(board["counts"].values()) > 0
    for state, count in board["counts"].items():
        assert await page.text_content(f"[data-count='{state}']") == str(count), state
    for modality, states in board["by_modality"].items():
        for state, count in states.items():
            cell = f"[data-modality='{modality}'][data-state='{state}']"
            assert await page.text_content(cell) == str(count), (modality, state)
    for table, state in (
        ("waiting", "waiting"),
        ("in-exam", "in_exam"),
        ("awaiting", "awaiting_report"),
    ):
        shown = await page.locator(f"#{table} tbody tr").count()
        assert shown == sum(item["state"] == state for item in board["items"]), table
    await tab.screenshot("now")

    await page.wait_for_selector("#live.on")
    before = sum(board["counts"].values())
    loaded = await page.evaluate("performance.getEntriesByType('navigation').length")
    client = await MllpClient.connect("127.0.0.1", day.mllp_port)
    sent = asyncio.get_running_loop().time()
    await client.send(orm_new_order("LIVE1", control_id="LIVE1", ordered_at=datetime.now(UTC)))
    await client.close()
    # The new order is open (ordered, or scheduled today by its timing): one more in all.
    await page.wait_for_function(
        "[...document.querySelectorAll('[data-count]')]"
        f".reduce((sum, cell) => sum + Number(cell.textContent), 0) === {before + 1}",
        timeout=2000,
    )
    assert asyncio.get_running_loop().time() - sent < 2.0
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == loaded
