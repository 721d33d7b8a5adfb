"""The turnaround routes with a real client: figures by hand, the orders behind a bar, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import RunningGateway
from tests.gateway.flow_department import (
    figures_of,
    flow_gateway,
    get,
    load_department,
    row,
)


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    """A running gateway in Berlin time with the flow routes and goals of these tests."""
    async with flow_gateway(database_url) as running:
        yield running


WEEK = {"from": "2026-11-16", "to": "2026-11-19"}


async def test_turnaround_by_modality_matches_figures_computed_by_hand(
    gateway: RunningGateway,
) -> None:
    """Every figure by modality: counts, p50/p90/p95 and share within goal as worked by hand."""
    # Percentiles use h = (n - 1) p between sorted ranks; for example report turnaround on CT
    # is [45, 60, 1415, 4340]: p50 = 60 + 0.5 * 1355 = 737.5, p90 = 1415 + 0.7 * 2925 = 3462.5,
    # p95 = 1415 + 0.85 * 2925 = 3901.25; statistics.quantiles(data, n=100,
    # method="inclusive") gives the same cut points 50, 90 and 95, as does numpy.percentile.
    await load_department(gateway)
    body = await get(gateway, "/api/v1/flow/turnaround", {**WEEK, "group_by": "modality"})
    assert body["group_by"] == "modality" and body["next_cursor"] is None
    assert body["from"] == "2026-11-16T00:00:00+00:00" and body["to"] == "2026-11-19T00:00:00+00:00"
    assert figures_of(body) == {
        # CT [20, 20, 40, 70] (O1, O5 tie; O6 cancelled; O8 started before the range).
        ("access", "CT"): row(4, 30.0, 61.0, 65.5),
        ("access", "MR"): row(1, 50.0, 50.0, 50.0),  # a group of one
        # CT [15, 30, 40] (O5 never arrived); only O3 is outpatient: 40 > 30.
        ("wait", "CT"): row(3, 30.0, 38.0, 39.0, with_goal=1, share=0.0),
        ("wait", "MR"): row(1, 30.0, 30.0, 30.0, with_goal=1, share=1.0),  # 30 <= 30
        # CT [-5, 10, 10] (O2 started 5 minutes early).
        ("start_delay", "CT"): row(3, 10.0, 10.0, 10.0),
        ("start_delay", "MR"): row(1, 5.0, 5.0, 5.0),
        ("exam_duration", "CT"): row(4, 15.0, 15.0, 15.0),  # [10, 15, 15, 15]
        ("exam_duration", "MR"): row(1, 30.0, 30.0, 30.0),
        # CT [45, 60, 1415, 4340]: O1 45 <= 60, O2 60 <= 60, O3 1415 > 1000 (tie rule),
        # O8 4340 > 60.
        ("report_turnaround", "CT"): row(4, 737.5, 3462.5, 3901.25, with_goal=4, share=0.5),
        ("report_turnaround", "MR"): row(1, 850.0, 850.0, 850.0, with_goal=1, share=1.0),
        ("preliminary_turnaround", "CT"): row(2, 15.0, 15.0, 15.0),  # [15, 15]
        # CT [80, 110, 1500, 4380]: 110 + 0.5 * 1390, 1500 + 0.7 * 2880, 1500 + 0.85 * 2880.
        ("total_turnaround", "CT"): row(4, 805.0, 3516.0, 3948.0),
        ("total_turnaround", "MR"): row(1, 930.0, 930.0, 930.0),
    }


async def test_the_orders_behind_each_bar_are_the_ones_its_figure_counts(
    gateway: RunningGateway,
) -> None:
    """Each group's order list holds exactly the orders its figure counted, cancelled ones out."""
    await load_department(gateway)

    async def behind(params: dict[str, str]) -> set[str]:
        body = await get(gateway, "/api/v1/flow/turnaround/orders", {**WEEK, **params})
        return {order["accession"] for order in body["items"]}

    emergency = {"figure": "access", "patient_class": "emergency"}
    assert await behind(emergency) == {"O1", "O2", "O5"}  # O6 cancelled, O8 started earlier
    assert await behind({"figure": "report_turnaround", "modality": "CT"}) == {
        "O1",
        "O2",
        "O3",
        "O8",
    }
    assert await behind({"figure": "wait", "priority": "R"}) == {"O3", "O4"}
    for group_by in ("modality", "priority", "patient_class"):
        body = await get(gateway, "/api/v1/flow/turnaround", {**WEEK, "group_by": group_by})
        for item in body["items"]:
            orders = await behind({"figure": item["figure"], group_by: item["group"]})
            assert len(orders) == item["count"], (group_by, item)


async def test_orders_filter_by_priority_and_patient_class(gateway: RunningGateway) -> None:
    """The order list narrows to a priority and a patient class, and shows the class."""
    await load_department(gateway)
    body = await get(gateway, "/api/v1/orders", {"priority": "R", "patient_class": "outpatient"})
    assert {o["accession"] for o in body["items"]} == {"O3", "O4", "O10"}
    assert {o["patient_class"] for o in body["items"]} == {"outpatient"}


async def test_turnaround_by_local_day_device_and_class(gateway: RunningGateway) -> None:
    """Day is the local date of the end time; device is the first step's, else the study's."""
    await load_department(gateway)
    by_day = await get(
        gateway,
        "/api/v1/flow/turnaround",
        {**WEEK, "group_by": "day", "figure": "report_turnaround"},
    )
    assert figures_of(by_day) == {
        # Monday: O1 45, O2 60, O8 4340 -> p90 = 60 + 0.8 * 4280, p95 = 60 + 0.9 * 4280.
        ("report_turnaround", "2026-11-16"): row(3, 60.0, 3484.0, 3912.0, with_goal=3, share=2 / 3),
        # Tuesday local: O4 850 (23:30 UTC Monday) and O3 1415 -> 850 + p * 565.
        ("report_turnaround", "2026-11-17"): row(
            2, 1132.5, 1358.5, 1386.75, with_goal=2, share=0.5
        ),
    }
    by_device = await get(
        gateway,
        "/api/v1/flow/turnaround",
        [*WEEK.items(), ("group_by", "device"), ("figure", "exam_duration")],
    )
    assert figures_of(by_device) == {
        ("exam_duration", ""): row(3, 15.0, 27.0, 28.5),  # O3 15, O5 15, O4 30
        ("exam_duration", "CT1"): row(1, 15.0, 15.0, 15.0),  # O1, not its later CT2 step
        ("exam_duration", "CT2"): row(1, 10.0, 10.0, 10.0),  # O2 by its study
    }
    by_class = await get(
        gateway,
        "/api/v1/flow/turnaround",
        [*WEEK.items(), ("group_by", "patient_class"), ("figure", "wait"), ("figure", "access")],
    )
    assert figures_of(by_class) == {
        ("access", "emergency"): row(3, 20.0, 36.0, 38.0),  # [20, 20, 40]
        ("access", "outpatient"): row(2, 60.0, 68.0, 69.0),  # [50, 70]
        ("wait", "emergency"): row(2, 22.5, 28.5, 29.25),  # [15, 30]
        ("wait", "outpatient"): row(2, 35.0, 39.0, 39.5, with_goal=2, share=0.5),  # [30, 40]
    }
    overall = await get(
        gateway, "/api/v1/flow/turnaround", {**WEEK, "figure": "exam_duration,access"}
    )
    assert figures_of(overall) == {
        ("access", None): row(5, 40.0, 62.0, 66.0),  # [20, 20, 40, 50, 70]
        ("exam_duration", None): row(5, 15.0, 24.0, 27.0),  # [10, 15, 15, 15, 30]
    }


async def test_turnaround_pages_by_cursor(gateway: RunningGateway) -> None:
    """Pages of two rows, followed by cursor, give the whole list once, in order."""
    await load_department(gateway)
    params = {**WEEK, "group_by": "modality"}
    whole = (await get(gateway, "/api/v1/flow/turnaround", params))["items"]
    seen: list[Any] = []
    cursor = None
    while True:
        page = await get(
            gateway,
            "/api/v1/flow/turnaround",
            {**params, "limit": "2", **({"cursor": cursor} if cursor else {})},
        )
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and len(whole) == 13
