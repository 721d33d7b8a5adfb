"""The statements behind each route of the API benchmark, explained by PostgreSQL (EXPLAIN
ANALYZE, BUFFERS) on the benchmark's own data; `bench/api.py` writes them to
`bench/results/plans.txt`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import event

from bench.dataset import Dataset
from gateway.config import DEFAULT_GOALS
from mappers.fhir.search import parse_search
from mappers.fhir.vocabulary import ResourceType
from store import figures as flow_figures
from store.engine import create_engine
from store.fhir import search_resources
from store.reading.board import BoardQuery, read_board
from store.reading.turnaround import TurnaroundQuery, read_turnaround
from store.reading.volumes import VolumeQuery, read_volumes

# The windows the routes are asked for.
WINDOW = timedelta(days=30)
YEAR = timedelta(days=366)
MONTH = timedelta(days=31)


async def explain_routes(data: Dataset, slow: set[str], names: dict[str, str]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements each route's store function runs;
    `names` gives each route's figure name, `slow` the figures that missed their goal."""
    utc = ZoneInfo("UTC")
    end = data.now.replace(microsecond=0)
    accession = data.accessions[0]
    patient = data.study_patients[0]
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        (
            "turnaround",
            lambda conn: read_turnaround(
                conn,
                TurnaroundQuery(
                    figures=tuple(flow_figures.FIGURES),
                    start=end - WINDOW,
                    end=end,
                    tz=utc,
                    group_by="modality",
                    goals=DEFAULT_GOALS,
                ),
                after=None,
                limit=50,
            ),
        ),
        (
            "turnaround_year",
            lambda conn: read_turnaround(
                conn,
                TurnaroundQuery(
                    figures=tuple(flow_figures.FIGURES),
                    start=end - YEAR,
                    end=end,
                    tz=utc,
                    group_by="priority",
                    goals=DEFAULT_GOALS,
                ),
                after=None,
                limit=50,
            ),
        ),
        (
            "volumes",
            lambda conn: read_volumes(
                conn, VolumeQuery(start=end - MONTH, end=end, tz=utc), after=None, limit=50
            ),
        ),
        (
            "board",
            lambda conn: read_board(
                conn, BoardQuery(now=datetime.now(UTC), tz=utc), after=None, limit=50
            ),
        ),
        (
            "service_request",
            lambda conn: search_resources(
                conn,
                parse_search(
                    ResourceType.SERVICE_REQUEST,
                    [
                        ("identifier", f"urn:imaging-gateway:accession|{accession}"),
                        ("_count", "50"),
                    ],
                ),
            ),
        ),
        (
            "imaging_study",
            lambda conn: search_resources(
                conn,
                parse_search(
                    ResourceType.IMAGING_STUDY, [("patient", str(patient)), ("_count", "50")]
                ),
            ),
        ),
    ]
    captured: list[tuple[str, Any]] = []
    engine = create_engine(data.url)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    statements: list[tuple[str, str, Any]] = []
    try:
        for key, call in calls:
            async with engine.connect() as conn:
                captured.clear()
                await call(conn)
                statements += [(key, s, p) for s, p in captured]
    finally:
        await engine.dispose()
    out = [
        f"EXPLAIN (ANALYZE, BUFFERS) of each route's statements over {data.orders:,} orders, "
        f"{data.studies:,} studies ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC).",
        "SLOW = the route missed its p99 goal under load in this run.",
        "",
    ]
    raw = await asyncpg.connect(data.dsn)
    try:
        route = None
        for key, statement, parameters in statements:
            if key != route:
                route = key
                await raw.execute("RESET ALL")
            if statement.lstrip().upper().startswith("SET "):
                # A route's own settings (SET LOCAL) hold for the statements after it.
                await raw.execute(statement.replace("SET LOCAL", "SET", 1))
                continue
            mark = "SLOW " if names[key] in slow else ""
            rows = await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *(parameters or ()))
            out += [
                "=" * 100,
                f"{mark}{key}: {names[key]}",
                "-" * 100,
                statement.strip(),
                f"-- parameters: {list(parameters or ())!r}",
                "-" * 100,
                *(row[0] for row in rows),
                "",
            ]
    finally:
        await raw.close()
    return "\n".join(out)


# --- the table ----------------------------------------------------------------------------
