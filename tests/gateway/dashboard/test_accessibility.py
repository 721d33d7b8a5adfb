"""WCAG 2.1 AA basics and tablets: axe-core finds no violation on any view, the keyboard reaches
and works every control it needs, and a tablet shows each view without sideways scrolling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page

from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

VIEWS = ("now", "turnaround", "volumes", "equipment", "integrity", "report")
# axe-core's rules for WCAG 2.0 and 2.1, levels A and AA (contrast, labels, names, roles...).
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
TABLETS = {"portrait": (768, 1024), "landscape": (1024, 768)}


def _described(violations: list[dict[str, Any]]) -> list[str]:
    return [f"{v['id']}: {[node['target'] for node in v['nodes']][:3]}" for v in violations]


@pytest.mark.parametrize("view", VIEWS)
async def test_no_wcag_aa_violation_on_any_view(tab: Tab, view: str) -> None:
    """axe-core's WCAG 2.1 A and AA rules pass on every view, its detail dialog open or not."""
    page = await tab.open(view)
    results = await Axe().run(page, options=WCAG_AA)
    assert _described(results.response["violations"]) == []


async def test_a_bar_opened_from_the_keyboard_shows_an_accessible_dialog(tab: Tab) -> None:
    """Tab reaches a chart bar, Enter opens its orders, the dialog passes axe, Escape closes it."""
    page = await tab.open("turnaround")
    bar = page.locator(".bar[role='button']").first
    await bar.focus()
    assert await bar.evaluate("(el) => el === document.activeElement")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#detail-dialog[open] #orders-behind")
    results = await Axe().run(page, options=WCAG_AA)
    assert _described(results.response["violations"]) == []
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#detail-dialog:not([open])", state="attached")


async def test_the_keyboard_alone_moves_between_views_with_focus_shown(tab: Tab) -> None:
    """Tab goes to the skip link, then the views; Enter opens one; the focus is drawn."""
    page = await tab.open("now")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    for _ in range(3):  # skip link -> Now -> Turnaround -> Volumes
        await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.dataset.view")
    assert focused == "volumes"
    outline = await page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] != "none" and outline[1] not in ("0px", ""), outline
    await page.keyboard.press("Enter")
    await page.wait_for_selector("main[data-ready='volumes']")


@pytest_asyncio.fixture(loop_scope="module", params=sorted(TABLETS))
async def tablet(
    request: pytest.FixtureRequest, browser: Browser, day: RunningGateway
) -> AsyncIterator[tuple[str, Tab]]:
    """A touch tablet's tab, portrait or landscape, on the day's gateway."""
    width, height = TABLETS[request.param]
    context = await browser.new_context(
        viewport={"width": width, "height": height}, has_touch=True, is_mobile=True
    )
    yield request.param, Tab(await context.new_page(), day.http_url)
    await context.close()


async def _page_width(page: Page) -> tuple[int, int]:
    return tuple(await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"))  # type: ignore[return-value]


async def test_every_view_fits_a_tablet_and_answers_touch(tablet: tuple[str, Tab]) -> None:
    """On a tablet each view fits its width (wide tables scroll inside their box); a tap
    on the navigation opens the next view."""
    orientation, tab = tablet
    for view in VIEWS:
        page = await tab.open(view)
        scroll_width, width = await _page_width(page)
        assert scroll_width <= width, (view, scroll_width, width)
        await tab.screenshot(f"tablet-{orientation}-{view}")
    await page.tap("nav a[data-view='now']")
    await page.wait_for_selector("main[data-ready='now']")
