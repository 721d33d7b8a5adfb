"""DICOM C-STORE: the gateway receiving CT instances beside DCMTK's `storescp`.

The same sender each time: DCMTK `storescu` with every file on one association and
`TCP_NODELAY=1` in its environment. The floor is `storescp` writing the files; the gateway
runs as its own process, on SQLite (index only, then with files written) and on PostgreSQL
(index only). Afterwards the rows in `instances` are counted, so a fast answer that stored
nothing cannot pass.

Run alone: `.venv/bin/python -m bench.dicom` (BENCH_QUICK=1 for 100 instances).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import asyncpg
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy.engine import make_url

from bench.common import POSTGRES_ADMIN_URL, Figure, free_port, quick, stop_process
from bench.dicom_peers import (
    orthanc,
    orthanc_available,
    orthanc_instances,
    pynetdicom_floor,
    send_parallel,
)
from bench.run import table

REPO = Path(__file__).resolve().parent.parent
CALLED_AE = "IMAGING_GW"
CALLING_AE = "BENCH_CT1"
READY_TIMEOUT = 30.0
SEND_TIMEOUT = 300.0
INDEX_GOAL_RATIO = 0.5
INDEX_GOAL_RATE = 300.0
FILES_GOAL_RATIO = 0.45
# Issue 17: at Orthanc's pace on one association and on four, and 0.9 of the bare pynetdicom SCP.
ORTHANC_GOAL_RATIO = 1.0
BARE_GOAL_RATIO = 0.9
STORESCP = "DCMTK storescp (files)"
ORTHANC = "Orthanc 1.10 (SQLite index, files, TCP_NODELAY=1)"


# --- the instances -----------------------------------------------------------------


def make_instances(folder: Path, count: int) -> list[Path]:
    """`count` copies of pydicom's CT_small.dcm as one new study and series, each instance
    with its own SOP Instance UID, written once to `folder`."""
    template = dcmread(get_testdata_file("CT_small.dcm"))
    study_uid, series_uid = generate_uid(), generate_uid()
    accession = f"BENCH{secrets.token_hex(4).upper()}"
    paths = []
    for number in range(1, count + 1):
        dataset = template.copy()
        sop_uid = generate_uid()
        dataset.StudyInstanceUID = study_uid
        dataset.SeriesInstanceUID = series_uid
        dataset.SOPInstanceUID = sop_uid
        dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
        dataset.AccessionNumber = accession
        dataset.PatientID = "BENCH0001"
        dataset.PatientName = "BENCH^CT"
        dataset.InstanceNumber = number
        path = folder / f"CT{number:05d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# --- processes ---------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without any IMAGING_GW_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGING_GW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def storescp(out_dir: Path) -> Iterator[int]:
    """DCMTK's storescp writing what it receives to `out_dir`; yields its port."""
    port = free_port()
    process = subprocess.Popen(
        ["storescp", "-aet", CALLED_AE, "-od", str(out_dir), str(port)],
        env=_clean_env(TCP_NODELAY="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, process, READY_TIMEOUT)
        yield port
    finally:
        stop_process(process)


@contextlib.contextmanager
def gateway(
    database_url: str, work_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[dict[str, int]]:
    """`python -m gateway serve` as its own process on `database_url`, ready (GET /readyz
    answers 200); yields its ports {"dicom", "http", "mllp"}."""
    ports = {"dicom": free_port(), "http": free_port(), "mllp": free_port()}
    env = _clean_env(
        IMAGING_GW_DATABASE_URL=database_url,
        IMAGING_GW_DICOM_PORT=str(ports["dicom"]),
        IMAGING_GW_HTTP_PORT=str(ports["http"]),
        IMAGING_GW_MLLP_PORT=str(ports["mllp"]),
        IMAGING_GW_LOG_LEVEL="WARNING",
        **(settings or {}),
    )
    log = (work_dir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=work_dir,  # no gateway.toml here: the settings are the variables above
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            _wait_ready(ports["http"], process)
        except RuntimeError as exc:
            log.flush()
            tail = (work_dir / "gateway.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{tail}") from None
        yield {**ports, "pid": process.pid}
    finally:
        stop_process(process)
        log.close()


def _wait_ready(http_port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"http://127.0.0.1:{http_port}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready after {READY_TIMEOUT} s")


def send(port: int, files: list[Path]) -> float:
    """storescu sends `files` on one association; the wall time in seconds."""
    command = ["storescu", "-aet", CALLING_AE, "-aec", CALLED_AE, "127.0.0.1", str(port)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, *map(str, files)],
        env=_clean_env(TCP_NODELAY="1"),
        capture_output=True,
        timeout=SEND_TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"storescu exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


# --- PostgreSQL ----------------------------------------------------------------------


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its asyncpg URL."""
    name = f"imaging_gw_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def count_instances(database_url: str) -> int:
    """Rows in the gateway's `instances` table."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with contextlib.closing(sqlite3.connect(url.database)) as conn:
            return conn.execute("SELECT count(*) FROM instances").fetchone()[0]

    async def count() -> int:
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        try:
            return await conn.fetchval("SELECT count(*) FROM instances")
        finally:
            await conn.close()

    return asyncio.run(count())


# --- the benchmark -------------------------------------------------------------------


def _gateway_rate(files: list[Path], database_url: str, work: Path, **settings: str) -> float:
    with gateway(database_url, work, settings) as ports:
        elapsed = send(ports["dicom"], files)
    stored = count_instances(database_url)
    if stored != len(files):
        raise RuntimeError(f"the gateway indexed {stored} of {len(files)} instances")
    return len(files) / elapsed


def _files_rate(files: list[Path], work: Path, associations: int = 1) -> float:
    """The gateway on SQLite writing files, as Orthanc does: instances per second."""
    work.mkdir()
    url = f"sqlite+aiosqlite:///{work / 'gateway.db'}"
    storage = {"IMAGING_GW_DICOM_STORAGE_DIR": str(work / "storage")}
    with gateway(url, work, storage) as ports:
        elapsed = send_parallel(send, ports["dicom"], files, associations)
    written = sum(1 for _ in (work / "storage").rglob("*.dcm"))
    if written != len(files) or count_instances(url) != len(files):
        raise RuntimeError(f"the gateway wrote {written} of {len(files)} files")
    return len(files) / elapsed


def _orthanc_rate(files: list[Path], work: Path, associations: int) -> float:
    work.mkdir()
    with orthanc(work, _clean_env()) as port:
        elapsed = send_parallel(send, port, files, associations)
    stored = orthanc_instances(work)
    if stored != len(files):
        raise RuntimeError(f"Orthanc stored {stored} of {len(files)} instances")
    return len(files) / elapsed


def _floor_rates(files: list[Path], root: Path) -> tuple[float, float, float]:
    """storescp's rate, and the bare pynetdicom SCP's on one association and on four (the
    ceiling of the library every Python SCP is built on); a first storescp send warms the
    page cache and the binaries."""
    rates = []
    for name, associations in (
        ("storescp-warm", 1),
        ("storescp", 1),
        ("pynetdicom", 1),
        ("pynetdicom4", 4),
    ):
        out = root / name
        out.mkdir()
        bare = name.startswith("pynetdicom")
        with pynetdicom_floor(out, _clean_env()) if bare else storescp(out) as port:
            elapsed = send_parallel(send, port, files, associations)
        if (received := len(list(out.iterdir()))) != len(files):
            raise RuntimeError(f"{name} wrote {received} of {len(files)} files")
        rates.append(len(files) / elapsed)
    return rates[1], rates[2], rates[3]


def run(quick: bool) -> list[Figure]:
    """Instances per second: storescp and a bare pynetdicom SCP (floors), Orthanc (the peer),
    the gateway with files on one and four associations, and index only on both stores."""
    count = 100 if quick else 300
    with tempfile.TemporaryDirectory(prefix="bench-dicom-") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        files = make_instances(root / "in", count)
        floor, bare, bare4 = _floor_rates(files, root)
        rates = {
            "files": _files_rate(files, root / "gw-files"),
            "files4": _files_rate(files, root / "gw-files4", associations=4),
            "index": _gateway_rate(files, *_work(root, "gw-index")),
        }
        peers = {}
        if orthanc_available():
            peers["orthanc"] = _orthanc_rate(files, root / "orthanc", 1)
            peers["orthanc4"] = _orthanc_rate(files, root / "orthanc4", 4)
        work = root / "gw-postgres"
        work.mkdir()
        with postgres_database() as url:
            rates["postgres"] = _gateway_rate(files, url, work)

    one = f"{count} CT_small instances, one association, storescu TCP_NODELAY=1"
    four = f"{count} CT_small instances, 4 associations at once, storescu TCP_NODELAY=1"
    bare_scp = ("bare pynetdicom SCP (writes the bytes)", bare)
    dcmtk = (STORESCP, floor)
    figures = [
        _figure(
            "DICOM C-STORE, with files (SQLite)",
            rates["files"],
            bare_scp,
            ratio_goal=BARE_GOAL_RATIO,
            note=one,
        ),
        _figure(
            "DICOM C-STORE, with files (SQLite), 4 associations",
            rates["files4"],
            ("bare pynetdicom SCP (writes the bytes), 4 associations", bare4),
            ratio_goal=BARE_GOAL_RATIO,
            note=four,
        ),
        _figure(
            "DICOM C-STORE, index only (SQLite)",
            rates["index"],
            dcmtk,
            ratio_goal=INDEX_GOAL_RATIO,
            note=one,
            min_rate=INDEX_GOAL_RATE,
        ),
        _figure(
            "DICOM C-STORE, with files (SQLite)",
            rates["files"],
            dcmtk,
            ratio_goal=FILES_GOAL_RATIO,
            note=one,
        ),
        _figure(
            "DICOM C-STORE, index only (PostgreSQL)",
            rates["postgres"],
            dcmtk,
            ratio_goal=INDEX_GOAL_RATIO,
            note=one,
            min_rate=INDEX_GOAL_RATE,
        ),
    ]
    if peers:
        figures[:0] = [
            _figure(
                "DICOM C-STORE, with files (SQLite)",
                rates["files"],
                (ORTHANC, peers["orthanc"]),
                ratio_goal=ORTHANC_GOAL_RATIO,
                note=one + _ceiling(bare, peers["orthanc"]),
            ),
            _figure(
                "DICOM C-STORE, with files (SQLite), 4 associations",
                rates["files4"],
                (f"{ORTHANC}, 4 associations", peers["orthanc4"]),
                ratio_goal=ORTHANC_GOAL_RATIO,
                note=four + _ceiling(bare4, peers["orthanc4"]),
            ),
        ]
    return figures


def _ceiling(bare: float, peer: float) -> str:
    """Whether the bare library itself reaches the peer's rate (the goal's ceiling)."""
    if bare >= peer:
        return ""
    return (
        f"; the bare pynetdicom SCP reaches {bare:.1f}/s = {bare / peer:.2f}x the peer:"
        " the library's ceiling, measured in this run"
    )


def _work(root: Path, name: str) -> tuple[str, Path]:
    work = root / name
    work.mkdir()
    return f"sqlite+aiosqlite:///{work / 'gateway.db'}", work


def _figure(
    name: str,
    rate: float,
    floor: tuple[str, float],
    *,
    ratio_goal: float,
    note: str,
    min_rate: float | None = None,
) -> Figure:
    floor_name, floor_value = floor
    goal = f">= {ratio_goal}x" + (f" and >= {min_rate:.0f}/s" if min_rate else "")
    met = rate >= ratio_goal * floor_value and (min_rate is None or rate >= min_rate)
    return Figure(
        name=name,
        value=rate,
        unit="instances/s",
        floor_name=floor_name,
        floor_value=floor_value,
        goal=goal,
        met=met,
        note=note,
    )


if __name__ == "__main__":
    started = time.monotonic()
    print(table(run(quick())))
    print(f"\n{time.monotonic() - started:.1f} s")
