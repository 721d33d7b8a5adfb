"""Two gateway processes on one PostgreSQL, each sent orders for the same patients at once.

Run: `python -m bench.mllp_shared` (or through bench/run.py). Each process gets its own load
generator with 16 connections and 400 orders for the same 400 patients; afterwards the
database is checked: one patient row per patient, one order row per acknowledged order,
every order with its `ordered` milestone and its timeline row.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import Figure
from bench.mllp_processes import (
    ROOT,
    child_env,
    load_result,
    postgres_databases,
    postgres_problem,
    start_gateway,
    stop,
)

ORDERS = 400
PATIENTS = 400
CONNECTIONS = 16
GOAL_P99_MS = 100.0


def _load(port: int, tag: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "bench.mllp_load",
        "--port",
        str(port),
        "--connections",
        str(CONNECTIONS),
        "--kind",
        "orm",
        "--tag",
        tag,
        "--patients",
        str(PATIENTS),
        "--warmup",
        "0",
        "--seconds",
        "60",
        "--max-messages",
        str(ORDERS),
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=child_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


async def _check(url: str) -> dict[str, int]:
    """Counts that a duplicate or a lost update would break."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "orders": await conn.fetchval("SELECT count(*) FROM orders"),
            "accessions": await conn.fetchval("SELECT count(DISTINCT accession) FROM orders"),
            "patients": await conn.fetchval("SELECT count(*) FROM patients"),
            "identifiers": await conn.fetchval(
                "SELECT count(DISTINCT (identifier, authority)) FROM patients"
            ),
            "without_ordered": await conn.fetchval(
                "SELECT count(*) FROM orders WHERE ordered_at IS NULL OR patient_id IS NULL"
            ),
            "timeline": await conn.fetchval(
                "SELECT count(*) FROM order_timeline WHERE milestone = 'ordered'"
            ),
        }
    finally:
        await conn.close()


def run(quick: bool) -> list[Figure]:
    """Both processes' throughput and ACK p99, and whether anything was doubled or lost."""
    if (problem := postgres_problem()) is not None:
        return [Figure("two gateways on one PostgreSQL", 0.0, "msg/s", note=problem)]
    figures: list[Figure] = []
    with (
        tempfile.TemporaryDirectory(prefix="imaging-gw-bench-shared-") as tmp,
        postgres_databases() as (
            url,
            _floor,
        ),
    ):
        gateways = []
        try:
            for name in ("a", "b"):
                workdir = Path(tmp, name)
                workdir.mkdir()
                gateways.append(start_gateway(workdir, url))
            loads = [_load(g.port, f"S{i}{'q' if quick else 'f'}0") for i, g in enumerate(gateways)]
            results = [load_result(*load.communicate(timeout=120)) for load in loads]
        finally:
            for gateway in gateways:
                stop(gateway)
        counts = asyncio.run(_check(url))
    acked = sum(r["aa"] for r in results)
    for name, result in zip("AB", results, strict=True):
        label = f"two gateways on one PostgreSQL, process {name}, {CONNECTIONS} conn"
        figures.append(
            Figure(f"{label}", round(result["throughput"], 1), "msg/s", note=f"{result['aa']} AA")
        )
        figures.append(
            Figure(
                f"{label}, ACK p99",
                round(result["p99_ms"], 2),
                "ms",
                goal=f"<= {GOAL_P99_MS:g} ms",
                met=result["p99_ms"] <= GOAL_P99_MS,
                higher_is_better=False,
            )
        )
    doubled = (counts["orders"] - counts["accessions"]) + (
        counts["patients"] - counts["identifiers"]
    )
    lost = (
        (acked - counts["orders"])
        + counts["without_ordered"]
        + (counts["orders"] - counts["timeline"])
    )
    figures.append(
        Figure(
            "two gateways on one PostgreSQL, duplicate rows",
            float(doubled),
            "rows",
            goal="0",
            met=doubled == 0,
            higher_is_better=False,
            note=f"{counts['orders']} orders, {counts['patients']} patients",
        )
    )
    figures.append(
        Figure(
            "two gateways on one PostgreSQL, lost orders or milestones",
            float(lost),
            "rows",
            goal="0",
            met=lost == 0,
            higher_is_better=False,
            note=f"{acked} AA in all",
        )
    )
    return figures


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure)
