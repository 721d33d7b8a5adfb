"""Query latency of the REST and FHIR facade over a large department, beside a trivial handler.

One run: generate 1,000,000 orders on PostgreSQL (`bench.dataset`; 50,000 when quick), start
the gateway (`python -m gateway serve`) and the floor (`bench.api_floor`) as their own
processes, and load each with `bench.api_load` (a third process) at the same concurrency:

- `/api/v1/flow/turnaround` over 30 days by modality   goal p99 <= 300 ms
- `/api/v1/flow/board`                                  goal p99 <= 50 ms
- FHIR `ServiceRequest?identifier=<accession>`          goal p99 <= 100 ms
- FHIR `ImagingStudy?patient=<id>`                      goal p99 <= 100 ms

The FHIR searches cycle through 2,000 existing accessions and patients. Each figure's floor
is the trivial handler measured just before it; ratio = floor p99 / gateway p99. Answers are
checked first (200, and items, counts or bundle entries present). After the load, the SQL
each route runs is captured from the store functions themselves (an engine of our own, whose
statements are recorded) and `EXPLAIN (ANALYZE, BUFFERS)` of each goes to
`bench/results/plans.txt`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench import dataset
from bench.api_plans import MONTH, WINDOW, YEAR, explain_routes
from bench.common import Figure, free_port, quick
from bench.dataset import Dataset

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CONCURRENCY = 4
READY_TIMEOUT = 60.0
URLS_PER_CHECK = 5


@dataclass(frozen=True, slots=True)
class Case:
    """One route under load: its URLs (cycled), its goal, and what a good answer holds."""

    key: str
    name: str
    urls: list[str]
    goal_ms: float
    check: Callable[[dict[str, Any]], bool]


def run(quick: bool) -> list[Figure]:
    """Generate, serve, load, explain; one figure per route, plus the generation time."""
    seconds = 3.0 if quick else 10.0
    floor_seconds = 1.5 if quick else 5.0
    warmup = 0.5 if quick else 1.0
    figures: list[Figure] = []
    with dataset.generated(quick) as data:
        figures.append(
            Figure(
                name=f"dataset: {data.orders:,} orders, {data.patients:,} patients, "
                f"{data.studies:,} studies (PostgreSQL)",
                value=round(data.seconds, 2),
                unit="s",
                higher_is_better=False,
                note="generation time: migrations, INSERT ... SELECT, index builds, "
                f"rebuild-read-models ({data.rebuild_seconds:.1f} s), VACUUM ANALYZE",
            )
        )
        with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
            work = Path(tmp)
            with _gateway(data, work) as base, _floor(work) as floor_url:
                cases = _cases(data, base)
                for case in cases:
                    _check(case)
                for case in cases:
                    floor = _load(work, [floor_url], floor_seconds, warmup)
                    measured = _load(work, case.urls, seconds, warmup)
                    figures.append(_figure(case, measured, floor))
        slow = {f.name for f in figures if f.met is False}
        plans = asyncio.run(
            explain_routes(data, slow, {case.key: case.name for case in _cases(data, "")})
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "plans.txt").write_text(plans, encoding="utf-8")
    return figures


# --- the routes ---------------------------------------------------------------------------


def _cases(data: Dataset, base: str) -> list[Case]:
    end = data.now.replace(microsecond=0)
    start = end - WINDOW
    window = f"from={_iso(start)}&to={_iso(end)}"
    year = f"from={_iso(end - YEAR)}&to={_iso(end)}"
    month = f"from={_iso(end - MONTH)}&to={_iso(end)}"
    accession = quote("urn:imaging-gateway:accession|", safe="")
    return [
        Case(
            "turnaround",
            "GET /api/v1/flow/turnaround (30 days, group_by=modality) p99",
            [f"{base}/api/v1/flow/turnaround?{window}&group_by=modality"],
            300.0,
            lambda body: len(body.get("items", ())) > 0,
        ),
        Case(
            "turnaround_year",
            "GET /api/v1/flow/turnaround (366 days, group_by=modality / priority) p99",
            [
                f"{base}/api/v1/flow/turnaround?{year}&group_by=modality",
                f"{base}/api/v1/flow/turnaround?{year}&group_by=priority",
            ],
            1000.0,
            lambda body: len(body.get("items", ())) > 0,
        ),
        Case(
            "volumes",
            "GET /api/v1/flow/volumes (31 days, interval=day) p99",
            [f"{base}/api/v1/flow/volumes?{month}&interval=day"],
            200.0,
            lambda body: len(body.get("items", ())) > 0,
        ),
        Case(
            "board",
            "GET /api/v1/flow/board p99",
            [f"{base}/api/v1/flow/board"],
            50.0,
            lambda body: sum(body.get("counts", {}).values()) > 0 and len(body["items"]) > 0,
        ),
        Case(
            "service_request",
            "FHIR ServiceRequest?identifier=<accession>&_count=50 p99",
            [
                f"{base}/fhir/ServiceRequest?identifier={accession}{a}&_count=50"
                for a in data.accessions
            ],
            100.0,
            lambda body: body.get("total", 0) >= 1 and len(body.get("entry", ())) >= 1,
        ),
        Case(
            "imaging_study",
            "FHIR ImagingStudy?patient=<id>&_count=50 p99",
            [f"{base}/fhir/ImagingStudy?patient={p}&_count=50" for p in data.study_patients],
            100.0,
            lambda body: body.get("total", 0) >= 1 and len(body.get("entry", ())) >= 1,
        ),
    ]


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(case: Case) -> None:
    """The first answers are 200 and hold what the route should find."""
    for url in case.urls[:URLS_PER_CHECK]:
        status, body = _get(url, timeout=120.0)
        if status != 200 or not case.check(orjson.loads(body)):
            raise RuntimeError(f"{case.key}: {url} answered {status}: {body[:300]!r}")


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _load(work: Path, urls: list[str], seconds: float, warmup: float) -> dict[str, Any]:
    """Run the load tool as its own process; its JSON line."""
    urls_file = work / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "bench.api_load",
        "--concurrency",
        str(CONCURRENCY),
        "--duration",
        str(seconds),
        "--warmup",
        str(warmup),
        "--urls-file",
        str(urls_file),
    ]
    done = subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load tool failed: {done.stderr[-2000:]}")
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def _figure(case: Case, measured: dict[str, Any], floor: dict[str, Any]) -> Figure:
    p99 = measured["p99_ms"] or float("nan")
    errors = measured["errors"]
    note = (
        f"p50 {measured['p50_ms']} ms, {measured['rps']} req/s, {measured['requests']} requests"
        f" at {CONCURRENCY} clients, smallest answer {measured['min_bytes']} B"
        f"; floor p50 {floor['p50_ms']} ms, {floor['rps']} req/s"
    )
    if errors:
        note += f"; {errors} ERRORS {measured['status']}"
    return Figure(
        name=case.name,
        value=p99,
        unit="ms",
        floor_name="trivial aiohttp JSON handler p99",
        floor_value=floor["p99_ms"],
        goal=f"p99 <= {case.goal_ms:g} ms",
        met=not errors and p99 <= case.goal_ms,
        higher_is_better=False,
        note=note,
    )


# --- the processes ------------------------------------------------------------------------


@contextmanager
def _gateway(data: Dataset, work: Path) -> Iterator[str]:
    """`python -m gateway serve` on the benchmark database; its base URL once ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGING_GW_")}
    env |= {
        "IMAGING_GW_DATABASE_URL": data.url,
        "IMAGING_GW_DATABASE_MIGRATE_ON_START": "true",
        "IMAGING_GW_HTTP_PORT": str(port),
        "IMAGING_GW_MLLP_PORT": str(free_port()),
        "IMAGING_GW_DICOM_PORT": str(free_port()),
        "IMAGING_GW_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    base = f"http://127.0.0.1:{port}"
    # Its own working directory: no stray gateway.toml or ./var is picked up.
    with _process([sys.executable, "-m", "gateway", "serve"], work, env, "gateway") as log:
        _wait_ready(f"{base}/readyz", log)
        yield base


@contextmanager
def _floor(work: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench.api_floor", "--port", str(port)]
    with _process(command, work, env, "floor") as log:
        _wait_ready(f"http://127.0.0.1:{port}/floor", log)
        yield f"http://127.0.0.1:{port}/floor"


@contextmanager
def _process(command: list[str], work: Path, env: dict[str, str], name: str) -> Iterator[Path]:
    """A child process with its output in a log file; terminated (then killed) at the end."""
    log = work / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield log
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if _get(url, timeout=2.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{url} not ready within {READY_TIMEOUT:g} s; log:\n{tail}")


def table(figures: list[Figure]) -> str:
    """The figures as a fixed-width table."""
    header = ("figure", "value", "floor", "ratio", "goal", "met")
    rows = [header]
    for f in figures:
        ratio = f.ratio
        rows.append(
            (
                f.name,
                f"{f.value:,.2f} {f.unit}",
                "" if f.floor_value is None else f"{f.floor_value:,.2f} {f.unit}",
                "" if ratio is None else f"{ratio:.3f}",
                f.goal,
                {True: "yes", False: "NO", None: ""}[f.met],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join([*lines, "", *notes])


if __name__ == "__main__":
    started = time.perf_counter()
    result = run(quick())
    print(table(result))
    print(f"\n(total {time.perf_counter() - started:.1f} s; plans in {RESULTS / 'plans.txt'})")
