"""The worklist query: open orders by station, modality and start, read through its indexes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.dicom import worklist_query
from mappers.dicom.worklist import parse_worklist_query
from mappers.dicom.worklist_model import WorklistQuery
from store.engine import create_engine
from store.migrate import migrate
from store.schema import orders, patients
from store.worklist import find_worklist, worklist_statement

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def _order(number: int, station: str, modality: str, start: datetime | None, **more: object):
    return {
        "id": number,
        "accession": f"ACC{number:03d}",
        "patient_id": 1,
        "modality": modality,
        "scheduled_resource": station,
        "scheduled_start": start,
        "ordered_at": DAY - timedelta(days=3, minutes=number),
        "status": "scheduled",
        "created_at": DAY,
        "updated_at": DAY,
        # Every row names the same columns: an executemany takes its columns from the first.
        "exam_completed_at": None,
        "cancelled_at": None,
        "discontinued_at": None,
        "scheduled_stations": "",
        "procedure_code": "",
        **more,
    }


ORDERS = [
    _order(1, "CT01", "CT", DAY + timedelta(hours=9)),
    _order(2, "CT01", "CT", DAY + timedelta(hours=8)),
    _order(3, "CT02", "CT", DAY + timedelta(hours=8)),
    _order(4, "MR01", "MR", DAY + timedelta(hours=10)),
    _order(5, "CT01", "CT", DAY + timedelta(days=1, hours=8)),
    _order(6, "CT01", "CT", DAY + timedelta(hours=11), exam_completed_at=DAY),
    _order(7, "CT01", "CT", DAY + timedelta(hours=12), cancelled_at=DAY),
    _order(8, "CT01", "CT", DAY + timedelta(hours=13), discontinued_at=DAY),
    # Not booked yet: its order time stands in for the start (three days before DAY).
    _order(9, "", "CT", None),
    # A step on two stations (OMI IPC-9), and two that name none: the settings table decides.
    _order(10, "", "CT", DAY + timedelta(hours=14), scheduled_stations="CT01\\CT02"),
    _order(11, "", "US", DAY + timedelta(hours=15)),
    _order(12, "", "CT", DAY + timedelta(hours=16), procedure_code="70450"),
]
TABLE = {"US": ("US01",), "CT/70450": ("CT_ED",), "CT": ("CTX",)}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(patients),
            [
                {
                    "id": 1,
                    "identifier": "MRN1",
                    "authority": "GENERAL_HOSP",
                    "family_name": "DOE",
                    "given_name": "JANE",
                    "birth_date": date(1980, 1, 1),
                    "created_at": DAY,
                    "updated_at": DAY,
                }
            ],
        )
        await conn.execute(insert(orders), ORDERS)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("query", "accessions"),
    [
        (
            WorklistQuery(station_ae_title="CT01", start_from=DAY, start_to=DAY + timedelta(1)),
            ["ACC002", "ACC001", "ACC010"],
        ),
        (
            WorklistQuery(modality="CT", start_from=DAY),
            ["ACC002", "ACC003", "ACC001", "ACC010", "ACC012", "ACC005"],
        ),
        (WorklistQuery(modality="CT", start_to=DAY), ["ACC009"]),
        (WorklistQuery(station_ae_title="MR01"), ["ACC004"]),
    ],
)
async def test_open_orders_by_station_modality_and_start(
    engine: AsyncEngine, query: WorklistQuery, accessions: list[str]
) -> None:
    """Only open orders match, in scheduled-start order (then order id), the order time
    standing in for an unbooked start."""
    async with engine.connect() as conn:
        found = await find_worklist(conn, query, limit=100)
    assert [item.accession for item in found] == accessions


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            WorklistQuery(station_ae_title="CT01", start_from=DAY, start_to=DAY + timedelta(1)),
            "ix_orders_worklist_start",
        ),
        (
            WorklistQuery(modality="CT", start_from=DAY, start_to=DAY + timedelta(3)),
            "ix_orders_worklist_modality",
        ),
    ],
)
async def test_station_and_modality_queries_read_their_index(
    engine: AsyncEngine, query: WorklistQuery, index: str
) -> None:
    """The query's start expression and open-order conditions match the partial expression
    indexes of migrations 0008 and 0012, so the database can read an index range."""
    statement = worklist_statement(query, limit=100)
    async with engine.connect() as conn:
        sql = str(statement.compile(conn.engine, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
        else:
            # Nine rows are cheaper to scan; the question is whether the index can serve.
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (await conn.execute(text(f"EXPLAIN {sql}"))).all()
    shown = "\n".join(str(row[-1]) for row in plan)
    if engine.dialect.name == "postgresql" and index == "ix_orders_worklist_start":
        # Over nine rows PostgreSQL may read either worklist index by its start range.
        assert "ix_orders_worklist_" in shown and "Index Cond: ((COALESCE(scheduled_start" in shown
    else:
        assert index in shown, shown


@pytest.mark.parametrize(
    ("station", "accessions"),
    [
        ("CT02", ["ACC003", "ACC010"]),
        ("US01", ["ACC011"]),
        ("CT_ED", ["ACC012"]),
        ("CTX", ["ACC009"]),
    ],
)
async def test_a_station_is_the_orders_own_else_its_resource_else_the_table(
    engine: AsyncEngine, station: str, accessions: list[str]
) -> None:
    """A step on two stations is found by either; orders naming none take the settings
    table's stations, by modality/procedure code before modality."""
    async with engine.connect() as conn:
        identifier = worklist_query(ScheduledStationAETitle=station)
        query = parse_worklist_query(identifier, facility_tz=UTC, case_insensitive_names=True)
        found = await find_worklist(conn, query, limit=100, stations=TABLE)
    assert [item.accession for item in found] == accessions
    for item in found:
        assert station in item.scheduled_station.split("\\")


async def test_the_matcher_decides_and_pages_past_rejected_candidates(
    engine: AsyncEngine,
) -> None:
    """A wild card station narrows nothing in SQL: the matcher drops unscheduled orders and
    the next page is read until the limit is met."""
    query = parse_worklist_query(
        worklist_query(ScheduledStationAETitle="CT0?"), facility_tz=UTC, case_insensitive_names=True
    )
    assert query.station_ae_title == ""
    async with engine.connect() as conn:
        found = await find_worklist(conn, query, limit=2)
        everything = await find_worklist(conn, query, limit=100)
    assert [item.accession for item in found] == ["ACC002", "ACC003"]
    assert [item.accession for item in everything] == [
        "ACC002",
        "ACC003",
        "ACC001",
        "ACC010",
        "ACC005",
    ]
