"""The Integrity view's findings in a real browser: the findings the API lists, filtered by
kind, each opening the order it concerns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe

from gateway.keys import INGEST
from mappers.events import (
    CodedValue,
    OrderDetails,
    OrderPlaced,
    PatientId,
    Provider,
    ReportIssued,
    ReportStatus,
)
from store.ingest import Inbound, Outcome
from tests.conftest import RunningGateway
from tests.gateway.dashboard.conftest import Tab, start_day
from tests.gateway.dashboard.test_accessibility import WCAG_AA

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def _send(gateway: RunningGateway, number: int, *events: object) -> None:
    stored = await gateway.app[INGEST].submit(
        Inbound(
            protocol="hl7v2",
            received_at=datetime.now(UTC),
            peer="test",
            raw=f"integrity view {number}".encode(),
            outcome=Outcome.APPLIED,
            events=events,  # type: ignore[arg-type]
            sending_application="RIS",
            sending_facility="H",
            control_id=f"IV{number}",
            ack_code="AA",
        )
    )
    assert stored.outcome is Outcome.APPLIED


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def day(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningGateway]:
    """A gateway holding a report for an order never placed, and a no-show candidate."""
    gateway = await start_day(tmp_path_factory.mktemp("integrity"), exams=0)
    now = datetime.now(UTC)
    patient = PatientId("MRN-VIEW", "HOSP")
    report = ReportIssued(
        "NEVER-1", ReportStatus.FINAL, "text", Provider("R1"), now - timedelta(minutes=20), patient
    )
    details = OrderDetails(procedure=CodedValue("X1", "MR BRAIN", "LOCAL"), modality="MR")
    booked = OrderPlaced(
        "MISSED-1", patient, details, now - timedelta(hours=6), now - timedelta(hours=3)
    )
    await _send(gateway, 1, report)
    await _send(gateway, 2, booked)
    yield gateway
    await gateway.runner.cleanup()


async def test_the_view_lists_the_findings_and_filters_them_by_kind(tab: Tab) -> None:
    """Both findings are listed with their evidence; choosing a kind leaves its own; the
    accession opens the order; the view passes axe."""
    page = await tab.open("integrity")
    rows = page.locator("#findings-table tbody tr")
    assert await rows.count() == 2
    report_row = page.locator(
        "#findings-table tr", has=page.locator("[data-kind='report_without_order']")
    )
    assert "NEVER-1" in (await report_row.text_content() or "")
    assert "1 report(s) (final), no order message" in (await report_row.text_content() or "")
    no_show = page.locator("#findings-table tr", has=page.locator("[data-kind='no_show']"))
    assert "MISSED-1" in (await no_show.text_content() or "")
    results = await Axe().run(page, options=WCAG_AA)
    assert results.response["violations"] == []
    await tab.screenshot("integrity-findings")
    await page.select_option("#s-integrity-findings ~ .controls select", "no_show")
    await page.wait_for_selector("#findings-table caption >> text=Findings (1)")
    assert await page.locator("#findings-table [data-kind]").all_text_contents() == [
        "No-show candidate"
    ]
    await page.click("#findings-table a >> text=MISSED-1")
    await page.wait_for_selector("#detail-dialog[open] >> text=Order MISSED-1")
    assert "MISSED-1" in (await page.text_content("#detail-body") or "")
