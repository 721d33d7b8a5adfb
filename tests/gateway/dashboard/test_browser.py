"""Every view of the dashboard in a real browser: the numbers shown equal the API's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert

from fixtures.messages import orm_new_order
from store.schema import outbox
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
    """Counts and lists equal the board's; a new ORM shows without a reload within 2 s."""
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


async def test_turnaround_shows_the_apis_figures_and_a_bar_lists_its_orders(
    tab: Tab, day: RunningGateway
) -> None:
    """Count, p50, p90 and share by modality equal the API's; a bar opens its orders."""
    page = await tab.open("turnaround")
    window = await page.evaluate("import('/dashboard/window.js').then((w) => w.lastDays(7))")
    grouped = await api(
        day, "/api/v1/flow/turnaround", figure="report_turnaround", group_by="modality", **window
    )
    assert grouped["items"], "the simulated day has final reports"
    for row in grouped["items"]:
        cell = f"#turnaround-table [data-group='{row['group']}']"
        assert await page.text_content(f"{cell}[data-col='count']") == str(row["count"])
        assert await page.text_content(f"{cell}[data-col='p50']") == f"{row['p50']:.1f}"
        assert await page.text_content(f"{cell}[data-col='p90']") == f"{row['p90']:.1f}"
    daily = await api(
        day, "/api/v1/flow/turnaround", figure="report_turnaround", group_by="day", **window
    )
    assert await page.locator("#trend-table tbody tr").count() == len(daily["items"])
    await tab.screenshot("turnaround")
    first = grouped["items"][0]
    await page.locator(".bar[role='button']").first.press("Enter")
    await page.wait_for_selector("#orders-behind")
    assert await page.locator("#orders-behind tbody tr").count() == first["count"]
    await tab.screenshot("turnaround-orders")
    await page.keyboard.press("Escape")

    # By patient class, a bar lists that class's orders only.
    by_class = await api(
        day,
        "/api/v1/flow/turnaround",
        figure="report_turnaround",
        group_by="patient_class",
        **window,
    )
    await page.get_by_label("Group by").select_option("patient_class")
    # The chart is drawn anew: wait for the class table, not for bars the old chart still has.
    await page.wait_for_selector("#turnaround-table th:text-is('Patient class')")
    await page.locator(".bar[role='button']").first.press("Enter")
    await page.wait_for_selector("#detail-dialog[open] #orders-behind")
    classes = await page.locator("#orders-behind tbody tr td:nth-child(5)").all_text_contents()
    assert len(classes) == by_class["items"][0]["count"]
    assert len(set(classes)) == 1, classes


async def test_volumes_total_what_the_api_counts(tab: Tab, day: RunningGateway) -> None:
    """Each measure's total over today's hours equals the API's buckets summed."""
    page = await tab.open("volumes")
    window = await page.evaluate("import('/dashboard/window.js').then((w) => w.lastDays(1))")
    items = (await api(day, "/api/v1/flow/volumes", interval="hour", limit=500, **window))["items"]
    for measure in ("ordered", "performed", "reported", "cancelled", "no_shows"):
        total = sum(item[measure] for item in items)
        assert await page.text_content(f"[data-total='{measure}']") == str(total), measure
    assert sum(item["ordered"] for item in items) > 0
    await tab.screenshot("volumes")


async def test_equipment_shows_each_devices_figures_and_declares_downtime(
    tab: Tab, day: RunningGateway
) -> None:
    """Availability and utilization per device equal the API's; declaring downtime lists it."""
    page = await tab.open("equipment")
    window = await page.evaluate("import('/dashboard/window.js').then((w) => w.lastDays(7))")
    devices = (await api(day, "/api/v1/devices"))["items"]
    assert devices
    for device in devices:
        ae = device["ae_title"]
        figures = (await api(day, f"/api/v1/devices/{ae}/uptime", **window))["figures"]
        for col, value in (
            ("availability", figures["availability"]),
            ("utilization", figures["utilization"]),
        ):
            shown = await page.text_content(f"[data-device='{ae}'][data-col='{col}']")
            assert shown == ("\u2013" if value is None else f"{round(value * 100)} %"), (ae, col)
    await page.fill("#f-start-local-to-this-browser-", "2026-01-05T08:00")
    await page.fill("#f-reason", "tube replacement")
    await page.click("text=Declare downtime")
    await page.wait_for_selector("#downtime-table >> text=tube replacement")
    await tab.screenshot("equipment")


async def test_integrity_counts_refused_messages_and_opens_one(
    tab: Tab, day: RunningGateway
) -> None:
    """Refused and failed messages add up to the API's; a message opens with its text."""
    client = await MllpClient.connect("127.0.0.1", day.mllp_port)
    await client.send(
        b"MSH|^~\\&|RIS|GENERAL_HOSP|IMAGING_GW|RADIOLOGY|20261122083000||ORM^O01|BAD1|P|2.3.1\rPID|1\r"
    )
    await client.close()
    page = await tab.open("integrity")
    bad = await api(day, "/api/v1/messages", outcome="rejected,failed", limit=500)
    assert bad["items"]
    shown = await page.locator("#bad-table [data-count='bad']").all_text_contents()
    assert sum(int(n) for n in shown) == len(bad["items"])
    unmatched = await api(day, "/api/v1/unmatched", kind="study,procedure_step", limit=500)
    assert await page.locator("#unmatched-table tbody tr").count() == len(unmatched["items"])
    await page.locator("#bad-table button").first.click()
    await page.wait_for_selector("#detail-dialog[open] pre")
    assert "MSH|" in (await page.text_content("#detail-dialog pre") or "")
    await tab.screenshot("integrity")


async def test_integrity_lists_dead_letters_and_retries_one(tab: Tab, day: RunningGateway) -> None:
    """An outbox dead letter is listed with its error; its Retry button makes it pending."""
    now = datetime.now(UTC)
    async with day.engine.begin() as conn:
        row_id = (
            await conn.execute(
                insert(outbox)
                .values(
                    destination="ris-elsewhere",
                    kind="hl7",
                    event_type="exam_started",
                    sequence_key="order:DL1",
                    event_id="DEADLETTER0000000001",
                    occurred_at=now,
                    data='{"accession": "DL1", "milestone": "exam_started"}',
                    state="dead",
                    attempts=1,
                    created_at=now,
                    next_attempt_at=now,
                    claimed_by="",
                    last_error="AR: unknown order",
                )
                .returning(outbox.c.id)
            )
        ).scalar_one()
    page = await tab.open("integrity")
    await page.wait_for_selector("#dead-letters >> text=AR: unknown order")
    await page.click(f"text=Retry {row_id}")
    await page.wait_for_selector(f"#dead-letters >> text=Retry {row_id}", state="detached")
    pending = await api(day, "/api/v1/outbox", state="pending", destination="ris-elsewhere")
    assert [item["id"] for item in pending["items"]] == [row_id]


async def test_the_month_report_sums_the_months_volumes(tab: Tab, day: RunningGateway) -> None:
    """The report's rows by modality equal the month's volumes; its CSV link is offered."""
    page = await tab.open("report")
    month = await page.input_value("#f-month")
    window = await page.evaluate(
        f"import('/dashboard/format.js').then((f) => f.monthWindow('{month}'))"
    )
    items = (
        await api(
            day, "/api/v1/flow/volumes", interval="day", group_by="modality", limit=500, **window
        )
    )["items"]
    performed: dict[str, int] = {}
    for item in items:
        performed[item["group"]] = performed.get(item["group"], 0) + item["performed"]
    rows = await page.locator("#report-table tbody tr").all()
    shown = {}
    for row in rows:
        cells = await row.locator("th, td").all_text_contents()
        shown[cells[0]] = int(cells[2])
    # Modalities with scanners but no exams this month are listed too, with zero.
    assert {modality: shown.get(modality) for modality in performed} == performed
    assert all(count == 0 for modality, count in shown.items() if modality not in performed)
    assert (await page.get_attribute("text=Download CSV", "download") or "").endswith(".csv")
    await page.emulate_media(media="print")
    await tab.screenshot("report-print")
