"""With a tokens file, the page asks once for a token, keeps it for the tab, and sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from gateway.auth import Role, Token, hash_token
from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab, start_day

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
READER = "dashboard-browser-reader"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def guarded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningGateway]:
    """A gateway whose API needs a reader's token, with no day played into it."""
    tokens = {hash_token(READER): Token("dashboard", Role.READER)}
    gateway = await start_day(Path(tmp_path_factory.mktemp("guarded")), tokens, exams=0)
    yield gateway
    await gateway.runner.cleanup()


async def test_the_page_asks_for_a_token_once_per_tab_and_sends_it(
    browser: Browser, guarded: RunningGateway
) -> None:
    """No data before a token; a wrong one asked again; the right one kept across a reload."""
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    tab = Tab(await context.new_page(), guarded.http_url)
    page = tab.page
    authorizations: list[str | None] = []
    page.on("request", lambda r: authorizations.append(r.headers.get("authorization")))
    try:
        await page.goto(guarded.http_url + "/")
        await page.wait_for_selector("#token-dialog[open]")
        assert await page.locator("main[data-ready]").count() == 0
        await tab.screenshot("token")
        await page.fill("#token-input", "not-the-token")
        await page.press("#token-input", "Enter")
        await page.wait_for_selector("#token-error:has-text('not accepted')")
        await page.fill("#token-input", READER)
        await page.click("text=Use token")
        await page.wait_for_selector("main[data-ready='now']")
        assert f"Bearer {READER}" in authorizations
        await page.reload()
        await page.wait_for_selector("main[data-ready='now']")
        assert await page.locator("#token-dialog[open]").count() == 0
        assert tab.foreign() == []
    finally:
        await context.close()
