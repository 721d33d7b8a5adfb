"""Modality Worklist C-FIND latency over 100,000 open orders, on SQLite and PostgreSQL.

The orders (with their patients) go straight into a migrated database with SQL; then the
gateway runs as its own process on it, and a load process (`python -m bench.worklist
--client ...`, pynetdicom) asks three kinds of worklist query, one after another on one
association, each kind for a fixed time:

- station: Scheduled Station AE Title + one date (what a modality asks every morning);
- modality: Modality + a three-day date range;
- name: Patient's Name wildcard (`SMI*` and the like).

Each latency runs from the request to the final status, every pending answer received. The
issue names no floor for these; the number of items answered is reported with them, and the
same queries are timed against the store alone (`store.worklist.find_worklist` in this
process), so the part the database takes is visible.

Run alone: `.venv/bin/python -m bench.worklist` (BENCH_QUICK=1 for 10,000 orders).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset as DicomDataset
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import ModalityWorklistInformationFind

from bench.common import Figure, percentile, quick
from bench.dicom import CALLED_AE, gateway, postgres_database
from bench.run import table
from bench.worklist_data import KINDS, plan, populate
from mappers.dicom.worklist import parse_worklist_query
from store.engine import create_engine
from store.worklist import find_worklist

P99_GOAL_MS = 20.0
CLIENT_AE = "BENCH_WL"
STORE_QUERIES = 30


def identifier(params: dict[str, str]) -> Any:
    """A worklist query identifier as a modality sends it: matching keys plus return keys."""
    step = DicomDataset()
    step.ScheduledStationAETitle = params.get("station", "")
    step.Modality = params.get("modality", "")
    step.ScheduledProcedureStepStartDate = params.get("date", "")
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepID = ""
    step.ScheduledPerformingPhysicianName = ""
    ds = DicomDataset()
    ds.PatientName = params.get("name", "")
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.AccessionNumber = ""
    ds.RequestedProcedureID = ""
    ds.RequestedProcedureDescription = ""
    ds.StudyInstanceUID = ""
    ds.ReferringPhysicianName = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def client(port: int, seconds: float, min_queries: int, plan_file: Path) -> dict[str, Any]:
    """The load process: each kind of query for `seconds` (and at least `min_queries`, within
    three times `seconds`), sequentially on one association."""
    queries = json.loads(plan_file.read_text())
    # Tuned as the gateway's own AE is (listeners/dicom.py): by default pynetdicom formats
    # every DIMSE message and every answer identifier for its log whatever the log level,
    # about 1 ms per answer item here, which is the SCU's cost, not the worklist's. Every
    # item is still decoded by pynetdicom and counted below.
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    ae = AE(ae_title=CLIENT_AE)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=CALLED_AE)
    if not assoc.is_established:
        raise SystemExit("association refused")
    # A modality's small requests must not wait for Nagle's algorithm either.
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    report: dict[str, Any] = {}
    try:
        for kind, sets in queries.items():
            latencies, results, failures = [], [], 0
            started = time.monotonic()
            for n in range(10**9):
                elapsed = time.monotonic() - started
                if (elapsed >= seconds and n >= min_queries) or elapsed >= 3 * seconds:
                    break
                ds = identifier(sets[n % len(sets)])
                found, final = 0, None
                sent = time.perf_counter()
                for answer, _ in assoc.send_c_find(ds, ModalityWorklistInformationFind):
                    code = int(answer.Status) if "Status" in answer else -1
                    if code in (0xFF00, 0xFF01):
                        found += 1
                    else:
                        final = code
                        break
                latencies.append((time.perf_counter() - sent) * 1000)
                results.append(found)
                failures += final != 0
            report[kind] = {"latencies_ms": latencies, "results": results, "failures": failures}
    finally:
        assoc.release()
    return report


def store_alone(url: str, queries: dict[str, list[dict[str, str]]]) -> dict[str, dict]:
    """The first STORE_QUERIES queries of each kind against `store.worklist.find_worklist` in
    this process: the database's part of each latency ("ms") and the items found ("items",
    the same in every run: the data and the plan come from fixed seeds)."""

    async def measure() -> dict[str, dict]:
        engine = create_engine(url)
        found: dict[str, dict] = {}
        try:
            async with engine.connect() as conn:
                for kind, sets in queries.items():
                    found[kind] = {"ms": [], "items": []}
                    for params in sets[:STORE_QUERIES]:
                        query = parse_worklist_query(
                            identifier(params), facility_tz=UTC, case_insensitive_names=True
                        )
                        started = time.perf_counter()
                        items = await find_worklist(conn, query, limit=1000)
                        found[kind]["ms"].append((time.perf_counter() - started) * 1000)
                        found[kind]["items"].append(len(items))
                    await conn.rollback()
        finally:
            await engine.dispose()
        return found

    return asyncio.run(measure())


# --- the benchmark -----------------------------------------------------------------------


def _measure(url: str, work: Path, count: int, seconds: float, min_queries: int) -> dict:
    loaded = time.monotonic()
    data = asyncio.run(populate(url, count))
    loaded = time.monotonic() - loaded
    queries = plan(data, 200)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(queries))
    with gateway(url, work) as ports:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.worklist",
                "--client",
                "--port",
                str(ports["dicom"]),
                "--seconds",
                str(seconds),
                "--min-queries",
                str(min_queries),
                "--plan",
                str(plan_file),
            ],
            capture_output=True,
            timeout=60 + 9 * seconds,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the worklist client failed: {done.stderr.decode()[-1500:]}")
    report = json.loads(done.stdout)
    alone = store_alone(url, queries)
    for kind in KINDS:
        report[kind]["store"] = alone[kind]
    report["load_seconds"] = loaded
    return report


def _figures(report: dict, database: str, count: int) -> list[Figure]:
    figures = []
    for kind, label in KINDS.items():
        part = report[kind]
        latencies, results = part["latencies_ms"], part["results"]
        if part["failures"] or not latencies or not any(results):
            raise RuntimeError(f"{label} on {database}: {part['failures']} failed, {results[:5]}")
        store = part["store"]["ms"]
        note = (
            f"{count:,} open orders; {len(latencies)} queries on one association, "
            f"{statistics.mean(results):.0f} items per answer (max {max(results)}); "
            f"the store alone p50 {percentile(store, 50):.1f} ms, "
            f"p99 {percentile(store, 99):.1f} ms"
        )
        # The plan's first queries find the same number of items in every run: a stable name.
        items = statistics.mean(part["store"]["items"])
        name = f"MWL C-FIND {label}, ~{items:.0f} items ({database})"
        p99 = percentile(latencies, 99)
        figures += [
            Figure(
                f"{name} p50", percentile(latencies, 50), "ms", higher_is_better=False, note=note
            ),
            Figure(
                f"{name} p99",
                p99,
                "ms",
                goal=f"p99 <= {P99_GOAL_MS:.0f} ms",
                met=p99 <= P99_GOAL_MS,
                higher_is_better=False,
                note=note,
            ),
        ]
    return figures


def run(quick: bool) -> list[Figure]:
    """Worklist latency on SQLite, then on PostgreSQL."""
    count = 10_000 if quick else 100_000
    seconds = 0.75 if quick else 5.0
    min_queries = 8 if quick else 50
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-worklist-") as tmp:
        root = Path(tmp)
        (root / "sqlite").mkdir()
        url = f"sqlite+aiosqlite:///{root / 'sqlite' / 'worklist.db'}"
        figures += _figures(
            _measure(url, root / "sqlite", count, seconds, min_queries), "SQLite", count
        )
        (root / "postgres").mkdir()
        with postgres_database() as url:
            report = _measure(url, root / "postgres", count, seconds, min_queries)
        figures += _figures(report, "PostgreSQL", count)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", action="store_true", help="be the load process")
    parser.add_argument("--port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--min-queries", type=int, default=50)
    parser.add_argument("--plan", type=Path)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(client(args.port, args.seconds, args.min_queries, args.plan)))
        return
    started = time.monotonic()
    figures = run(quick())
    print(table(figures))
    for figure in figures[1::2]:
        print(f"- {figure.name}: {figure.note}")
    print(f"\n{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
