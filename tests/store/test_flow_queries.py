"""The fast flow statements give exactly the answers of their straightforward definitions."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import StepStatus
from store import figures
from store.engine import create_engine
from store.figures import FIGURES, local_date
from store.migrate import migrate
from store.reading import board as board_reading
from store.reading.board import BOARD_STATES, STATE_SINCE, BoardQuery, read_board
from store.reading.turnaround import TurnaroundQuery, read_turnaround
from store.rebuild import rebuild_read_models
from store.schema import devices, orders, patients, procedure_steps, studies
from tests.store import flow_reference as flow

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)
MILESTONES = (
    "ordered_at",
    "arrived_at",
    "exam_started_at",
    "exam_completed_at",
    "images_available_at",
    "preliminary_report_at",
    "final_report_at",
)
OPTIONAL_TIMES = (
    *MILESTONES,
    "scheduled_start",
    "no_show_at",
    "cancelled_at",
    "discontinued_at",
)
GOALS = {
    "report_turnaround/*/S/emergency": 60.0,
    "report_turnaround/CT/*/*": 600.0,
    "report_turnaround/*/*/*": 1440.0,
    "wait/*/*/outpatient": 30.0,
    "access/*/S/*": 60.0,
    "exam_duration/XX/*/*": 15.0,  # a modality no order has
}


def _department(seed: int, count: int) -> list[dict[str, Any]]:
    """Orders with random milestones around NOW: some missing, some cancelled, odd modalities."""
    draw = random.Random(seed)
    rows = []
    for number in range(count):
        at = NOW - timedelta(days=draw.uniform(0, 6), milliseconds=draw.randrange(1000))
        times: dict[str, Any] = dict.fromkeys(OPTIONAL_TIMES)
        reached_so_far = draw.choice([1, 2, 3, 4, 5, 6, 7, 7, 7, 7])  # many orders are open
        for name in MILESTONES[:reached_so_far]:
            if draw.random() < 0.8:
                times[name] = at
            at += timedelta(minutes=draw.expovariate(1 / 40), microseconds=draw.randrange(10**6))
        if draw.random() < 0.2:  # no milestone is certain, nor later than the one before
            times[draw.choice(MILESTONES)] = None
        if draw.random() < 0.5:
            start = draw.choice([times["ordered_at"] or NOW, NOW]) + timedelta(
                minutes=draw.uniform(-300, 600)
            )
            times["scheduled_start"] = start
        if draw.random() < 0.05:
            times["no_show_at"] = NOW - timedelta(minutes=5)
        ended = draw.random()
        if ended < 0.05:
            times["cancelled_at"] = at
        elif ended < 0.08:
            times["discontinued_at"] = at
        reached = [name for name in MILESTONES if times[name] is not None]
        status = "cancelled" if times["cancelled_at"] else "discontinued"
        if not (times["cancelled_at"] or times["discontinued_at"]):
            status = reached[-1].removesuffix("_at") if reached else "ordered"
            if status == "ordered" and times["scheduled_start"] and draw.random() < 0.5:
                status = "scheduled"
        rows.append(
            {
                "accession": f"A{seed}-{number}",
                "patient_id": 1 + number % 3,
                "status": status,
                "modality": draw.choice(["CT", "MR", "US", ""]),
                "priority": draw.choice(["S", "R", "A"]),
                "patient_class": draw.choice(["emergency", "inpatient", "outpatient"]),
                "created_at": NOW,
                "updated_at": NOW,
                **times,
            }
        )
    return rows


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A migrated database of each kind with a random department, in a rolled-back transaction."""
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        async with engine.connect() as connection:
            await connection.begin()
            await connection.execute(
                insert(patients),
                [
                    {"identifier": f"P{i}", "authority": "H", "created_at": NOW, "updated_at": NOW}
                    for i in (1, 2, 3)
                ],
            )
            await connection.execute(
                insert(devices),
                [
                    {"ae_title": title, "modality": "CT", "created_at": NOW, "updated_at": NOW}
                    for title in ("CT1", "CT2")
                ],
            )
            await connection.execute(insert(orders), _department(7, 400))
            ids = (await connection.execute(select(orders.c.id).order_by(orders.c.id))).scalars()
            await _link_dicom(connection, list(ids))
            # Rows written behind the fold's back: their read models made as a rebuild makes them.
            await connection.run_sync(rebuild_read_models, BERLIN)
            yield connection
            await connection.rollback()
    finally:
        await engine.dispose()


async def _link_dicom(conn: AsyncConnection, ids: list[int]) -> None:
    """Steps (in progress, unnamed, on unknown stations) and studies on some of the orders."""
    draw = random.Random(11)
    steps, found = [], []
    for order_id in ids:
        for number in range(draw.choice([0, 0, 0, 1, 2])):
            started = NOW - timedelta(minutes=draw.uniform(0, 300))
            steps.append(
                {
                    "sop_instance_uid": f"1.2.{order_id}.{number}",
                    "order_id": order_id,
                    "status": draw.choice([s.value for s in StepStatus]),
                    "device_id": draw.choice([None, 1, 2]),
                    "station_ae_title": draw.choice(["", "CT9"]),
                    "started_at": draw.choice([started, None]),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        if draw.random() < 0.3:
            found.append(
                {
                    "study_instance_uid": f"1.3.{order_id}",
                    "order_id": order_id,
                    "device_id": draw.choice([None, 1, 2]),
                    "first_instance_at": NOW - timedelta(minutes=draw.uniform(0, 300)),
                    "last_instance_at": NOW,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    if steps:
        await conn.execute(insert(procedure_steps), steps)
    if found:
        await conn.execute(insert(studies), found)


@pytest.mark.parametrize(
    "group_by", [None, "modality", "priority", "patient_class", "day", "device"]
)
async def test_turnaround_equals_the_ranked_definition(
    conn: AsyncConnection, group_by: str | None
) -> None:
    """Every figure, group, percentile and goal count equals the window-function statement's."""
    query = TurnaroundQuery(
        figures=tuple(FIGURES),
        start=NOW - timedelta(days=4, hours=3),
        end=NOW,
        tz=BERLIN,
        group_by=group_by,
        goals=GOALS,
    )
    origin = figures.bucket_origin(query.start, query.tz, "day")
    expected = await flow.ranked_figure_rows(conn, query, None, 10_000, origin)
    page = await read_turnaround(conn, query, after=None, limit=10_000)
    assert len(page.items) == len(expected) > 0
    names = list(FIGURES)
    for item, want in zip(page.items, expected, strict=True):
        assert (item.figure, item.count) == (names[want.fig], want.n)
        assert (item.p50, item.p90, item.p95) == (want.p50, want.p90, want.p95)  # float for float
        assert (item.with_goal, item.within_goal) == (want.with_goal, want.within_goal)
    assert {item.figure for item in page.items} == set(FIGURES)
    assert any(item.within_goal for item in page.items)
    assert any(item.with_goal > item.within_goal for item in page.items)


async def test_turnaround_pages_and_figure_choice_match(conn: AsyncConnection) -> None:
    """Two figures sharing an END time, asked alone and paged, give the rows of the whole list."""
    query = TurnaroundQuery(
        figures=("total_turnaround", "report_turnaround"),
        start=NOW - timedelta(days=6),
        end=NOW,
        tz=BERLIN,
        group_by="modality",
        goals=GOALS,
    )
    whole = (await read_turnaround(conn, query, after=None, limit=100)).items
    assert [(i.figure, i.group) for i in whole] == sorted(
        ((i.figure, i.group) for i in whole), key=lambda k: (list(FIGURES).index(k[0]), k[1])
    )
    assert {"", "CT", "MR", "US"} == {i.group for i in whole}  # "" is a group like any other
    assert await flow.every_page(read_turnaround, conn, query, 3) == list(whole)
    empty = TurnaroundQuery(
        figures=tuple(FIGURES),
        start=NOW + timedelta(days=1),
        end=NOW + timedelta(days=2),
        tz=BERLIN,
    )
    assert (await read_turnaround(conn, empty, after=None, limit=10)).items == ()


def board_state(row: Mapping[str, Any], day_start: datetime, day_end: datetime) -> str | None:
    """The board state of an open order row by DESIGN.md's words, or None when it is not on
    today's board: what `read_board` must agree with."""
    # In exam: started, not completed, not reported, and an MPPS step still in progress or no
    # images yet (images without an open step mean the exam is over).
    done = row["exam_completed_at"] or row["preliminary_report_at"]
    if (
        row["exam_started_at"] is not None
        and done is None
        and (row["open_device"] is not None or row["images_available_at"] is None)
    ):
        return "in_exam"
    if done is not None or row["images_available_at"] is not None:
        return "awaiting_report"
    if row["arrived_at"] is not None:
        return "waiting"
    start = row["scheduled_start"]
    if start is not None:
        today = day_start <= start < day_end
        return "scheduled_today" if today and row["no_show_at"] is None else None
    return "ordered" if row["ordered_at"] is not None else None


async def _reference_board(conn: AsyncConnection, query: BoardQuery) -> dict[str, Any]:
    """The board by its definition: every order read, `board_state` and STATE_SINCE in Python."""
    day_start, day_end = flow.board_day(local_date(query.now, query.tz), query.tz)
    statement = select(
        orders,
        flow.open_step_device().label("open_device"),
        flow.order_device().label("performed_device"),
    ).where(orders.c.status.in_(flow.OPEN_STATUSES))
    entries = []
    for row in (await conn.execute(statement)).mappings():
        state = board_state(row, day_start, day_end)
        if state is None or (query.modality is not None and row["modality"] != query.modality):
            continue
        device = row["open_device"] if state == "in_exam" and row["open_device"] else ""
        device = device or row["performed_device"]
        if query.device is not None and device != query.device:
            continue
        since = min(row[name] for name in STATE_SINCE[state] if row[name] is not None)
        entries.append((BOARD_STATES.index(state), since, row["id"], row["modality"], device))
    entries.sort()
    return {
        "counts": Counter(BOARD_STATES[e[0]] for e in entries),
        "by_device": Counter((BOARD_STATES[e[0]], e[4]) for e in entries),
        "by_modality": Counter((BOARD_STATES[e[0]], e[3]) for e in entries),
        "listed": [(BOARD_STATES[e[0]], e[1], e[2]) for e in entries],
    }


@pytest.mark.parametrize(
    "narrowed",
    [{}, {"modality": "CT"}, {"device": "CT1"}, {"device": ""}, {"device": "CT9"}],
)
async def test_board_equals_its_definition(conn: AsyncConnection, narrowed: dict[str, str]) -> None:
    """Counts by state, modality and device, and the items in order, page by page."""
    query = BoardQuery(now=NOW, tz=BERLIN, **narrowed)
    want = await _reference_board(conn, query)
    if not narrowed:
        assert {state for state, _, _ in want["listed"]} == set(BOARD_STATES)
    listed, after = [], None
    while True:
        board = await read_board(conn, query, after=after, limit=7)
        listed += [(item.state, item.since, item.accession) for item in board.items]
        if board.next_key is None:
            break
        after = board.next_key
    accessions = dict((await conn.execute(select(orders.c.id, orders.c.accession))).all())
    assert listed == [(state, since, accessions[i]) for state, since, i in want["listed"]]
    assert board.counts == {state: want["counts"][state] for state in BOARD_STATES}
    got_devices = Counter(
        {(s, name): n for name, c in board.by_device.items() for s, n in c.items() if n}
    )
    got_modalities = Counter(
        {(s, name): n for name, c in board.by_modality.items() for s, n in c.items() if n}
    )
    assert got_devices == want["by_device"] and got_modalities == want["by_modality"]
    some = await read_board(
        conn,
        BoardQuery(now=NOW, tz=BERLIN, states=("waiting", "awaiting_report"), **narrowed),
        after=None,
        limit=1000,
    )
    assert [(i.state, i.since) for i in some.items] == [
        (state, since)
        for state, since, _ in want["listed"]
        if state in ("waiting", "awaiting_report")
    ]
    assert some.counts == board.counts  # states narrow the items, not the counts


@pytest.mark.parametrize("paged", [False, True])
@pytest.mark.parametrize("filtered", [False, True])
@pytest.mark.parametrize("states", [(), ("waiting",), ("in_exam", "ordered")])
def test_board_rows_are_read_by_the_positions_their_names_have(
    paged: bool, filtered: bool, states: tuple[str, ...]
) -> None:
    """The board reads its rows by position: every shape of its statement has the columns
    the positions were taken from, in that order."""
    shape = board_reading._Shape(filtered, filtered, states, paged)
    statement = board_reading._board_statement(shape)
    assert tuple(statement.selected_columns.keys()) == board_reading.COLUMNS
