"""A simulated day in a running gateway, and Debian's chromium driven by Playwright, per module."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, async_playwright

from gateway.keys import DICOM_LISTENER
from gateway.simulation.player import DayOptions, Peers, simulate
from tests.conftest import IN_CI, RunningGateway, gateway_settings, start_gateway

# Debian's package; `playwright install` would download a browser, which this network refuses.
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"


async def start_day(folder: Path, tokens: dict | None = None, exams: int = 12) -> RunningGateway:
    """A gateway on SQLite with a few hours of a simulated department played into it."""
    gateway = await start_gateway(
        gateway_settings(f"sqlite+aiosqlite:///{folder / 'gateway.db'}"), tokens
    )
    if exams:
        peers = Peers(
            mllp=("127.0.0.1", gateway.mllp_port),
            dicom=("127.0.0.1", gateway.app[DICOM_LISTENER].port, "IMAGING_GW"),
            http_url=gateway.http_url,
        )
        options = DayOptions(exams=exams, past_hours=5, ahead_hours=0, speed=0, outage=None)
        tally = await simulate(peers, options)
        assert tally.refused == []
    return gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def day(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningGateway]:
    """One simulated day for the whole module, with the API open (no tokens file)."""
    gateway = await start_day(tmp_path_factory.mktemp("day"))
    yield gateway
    await gateway.runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium from the distribution (failing in CI when absent, skipped elsewhere)."""
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} missing: apt-get install -y chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


class Tab:
    """A browser tab at 1280x800 that records every request it makes."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page, self.origin = page, origin
        self.requests: list[str] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)

    async def open(self, view: str) -> Page:
        """Show a view and wait until it has drawn."""
        await self.page.goto(f"{self.origin}/#{view}")
        await self.page.wait_for_selector(f"main[data-ready='{view}']")
        return self.page

    async def screenshot(self, name: str) -> Path:
        """Write a full-page screenshot for reviewers (tests/artifacts, git-ignored)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign(self) -> list[str]:
        """Requests to any other origin than the gateway's (there must be none)."""
        return [url for url in self.requests if not url.startswith(self.origin + "/")]


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, day: RunningGateway) -> AsyncIterator[Tab]:
    """A fresh tab on the day's gateway; afterwards, no request may have left for another host."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = Tab(await context.new_page(), day.http_url)
    yield opened
    await context.close()
    assert opened.requests, "the page made no request"
    assert opened.foreign() == []
