"""The Modality Worklist beside DCMTK's: the same 100 and 1,000 items, served by `wlmscpfs`
from worklist files and by the gateway from its store, asked by DCMTK `findscu`.

Issue 17's goal: the gateway's time is at most `wlmscpfs`'s for the same items. Each item is
one open order on station BENCH_CT today; the query is what a modality asks every morning
(its station and today, with the usual return keys), so every item matches. Both servers run
on this machine at once and are asked in turn, one `findscu` process per query (its start-up
is in both times alike), after a first run of each that also checks both answer every item.
The gateway runs as its own process on SQLite, then on PostgreSQL.

Run alone: `.venv/bin/python -m bench.worklist_dcmtk` (BENCH_QUICK=1 for fewer rounds).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import insert

from bench.common import Figure, free_port, quick
from bench.dicom import CALLED_AE, gateway, postgres_database
from bench.run import table
from store.engine import create_engine
from store.migrate import migrate
from store.schema import orders, patients

STATION = "BENCH_CT"
DCMTK_AE = "BENCHWL"  # wlmscpfs serves the folder named after the called AE title
COUNTS = (100, 1_000)
WORKLIST_SOP_CLASS = "1.2.276.0.7230010.3.1.0.1"  # DCMTK's private class for .wl files


def make_items(count: int, day: date) -> list[dict[str, str]]:
    """`count` worklist entries on STATION on `day`, every minute from 07:00."""
    items = []
    for number in range(1, count + 1):
        minutes = 7 * 60 + number % (15 * 60)
        items.append(
            {
                "accession": f"BWL{number:07d}",
                "patient_id": f"BMRN{number:07d}",
                "family": f"PATIENT{number:05d}",
                "given": "ANNA" if number % 2 else "JAN",
                "birth": "19700101",
                "sex": "F" if number % 2 else "M",
                "study_uid": f"2.25.{uuid.UUID(int=number + 1).int}",
                "procedure": "CT CHEST W/O CONTRAST",
                "code": "71250",
                "rp_id": f"RP{number:07d}",
                "date": day.strftime("%Y%m%d"),
                "time": f"{minutes // 60:02d}{minutes % 60:02d}00",
            }
        )
    return items


def write_worklist_files(items: list[dict[str, str]], folder: Path) -> None:
    """The items as DCMTK worklist files (.wl), every Type 1 return key filled."""
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    for item in items:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.AccessionNumber = item["accession"]
        ds.PatientName = f"{item['family']}^{item['given']}"
        ds.PatientID = item["patient_id"]
        ds.IssuerOfPatientID = "GENERAL_HOSP"
        ds.PatientBirthDate = item["birth"]
        ds.PatientSex = item["sex"]
        ds.StudyInstanceUID = item["study_uid"]
        ds.RequestedProcedureID = item["rp_id"]
        ds.RequestedProcedureDescription = item["procedure"]
        ds.RequestedProcedurePriority = "ROUTINE"
        ds.ReferringPhysicianName = "WELBY^MARCUS"
        ds.ReferencedStudySequence = []
        ds.ReferencedPatientSequence = []
        step = Dataset()
        step.ScheduledStationAETitle = STATION
        step.ScheduledProcedureStepStartDate = item["date"]
        step.ScheduledProcedureStepStartTime = item["time"]
        step.Modality = "CT"
        step.ScheduledPerformingPhysicianName = ""
        step.ScheduledProcedureStepDescription = item["procedure"]
        step.ScheduledProcedureStepID = item["rp_id"]
        ds.ScheduledProcedureStepSequence = [step]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = WORKLIST_SOP_CLASS
        ds.file_meta.MediaStorageSOPInstanceUID = item["study_uid"]
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(folder / f"{item['accession']}.wl", enforce_file_format=True)


async def insert_orders(url: str, items: list[dict[str, str]]) -> None:
    """The same items as open orders (and their patients) in a migrated store at `url`."""
    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_engine(url)
    try:
        await migrate(engine)
        patient_rows, order_rows = [], []
        for number, item in enumerate(items, start=1):
            start = datetime.strptime(item["date"] + item["time"], "%Y%m%d%H%M%S")
            start = start.replace(tzinfo=UTC)
            patient_rows.append(
                {
                    "id": number,
                    "identifier": item["patient_id"],
                    "authority": "GENERAL_HOSP",
                    "family_name": item["family"],
                    "given_name": item["given"],
                    "birth_date": datetime.strptime(item["birth"], "%Y%m%d").date(),
                    "sex": item["sex"],
                    "created_at": now,
                    "updated_at": now,
                }
            )
            order_rows.append(
                {
                    "id": number,
                    "accession": item["accession"],
                    "patient_id": number,
                    "procedure_code": item["code"],
                    "procedure_text": item["procedure"],
                    "procedure_system": "CPT4",
                    "requested_procedure_id": item["rp_id"],
                    "modality": "CT",
                    "priority": "R",
                    "ordering_provider_family": "WELBY",
                    "ordering_provider_given": "MARCUS",
                    "study_instance_uid": item["study_uid"],
                    "scheduled_start": start,
                    "scheduled_stations": STATION,
                    "status": "scheduled",
                    "ordered_at": start.replace(hour=6, minute=0, second=0),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        async with engine.begin() as conn:
            await conn.execute(insert(patients), patient_rows)
            await conn.execute(insert(orders), order_rows)
    finally:
        await engine.dispose()


def write_query(path: Path, day: date) -> None:
    """A modality's morning query: its station and today, with the usual return keys."""
    step = Dataset()
    step.ScheduledStationAETitle = STATION
    step.ScheduledProcedureStepStartDate = day.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = ""
    step.Modality = ""
    step.ScheduledPerformingPhysicianName = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepID = ""
    ds = Dataset()
    ds.AccessionNumber = ""
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureID = ""
    ds.RequestedProcedureDescription = ""
    ds.ReferringPhysicianName = ""
    ds.ScheduledProcedureStepSequence = [step]
    pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=True)


@contextlib.contextmanager
def wlmscpfs(database: Path, work: Path) -> Iterator[int]:
    """DCMTK's worklist server over `database`; yields its port. wlmscpfs cannot bind port 0:
    a free port is chosen and taken, again when another process took it in between."""
    for _attempt in range(5):
        port = free_port()
        log = (work / "wlmscpfs.log").open("wb")
        process = subprocess.Popen(
            ["wlmscpfs", "-dfp", str(database), str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        if _listening(port, process):
            break
        log.close()
    else:
        raise RuntimeError("wlmscpfs found no free port")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


def findscu(port: int, called: str, query: Path, work: Path, *, keep: bool = False) -> float:
    """One `findscu -W` process from start to exit, in ms (`keep`: write the answers)."""
    command = ["findscu", "-W", "-aet", "BENCH_FIND", "-aec", called]
    if keep:
        command.append("-X")
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "127.0.0.1", str(port), str(query)],
        cwd=work,
        capture_output=True,
        timeout=120,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"findscu failed: {done.stdout.decode()[-800:]}")
    return elapsed


def _answers(port: int, called: str, query: Path, folder: Path) -> int:
    folder.mkdir()
    findscu(port, called, query, folder, keep=True)
    return len(list(folder.glob("rsp*.dcm")))


def _compare(
    count: int, ports: tuple[int, int], query: Path, work: Path, rounds: int
) -> tuple[list[float], list[float]]:
    gateway_port, dcmtk_port = ports
    for name, port, called in (("gw", gateway_port, CALLED_AE), ("dcmtk", dcmtk_port, DCMTK_AE)):
        answered = _answers(port, called, query, work / f"check-{name}-{count}")
        if answered != count:
            raise RuntimeError(f"{name} answered {answered} of {count} items")
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(findscu(gateway_port, CALLED_AE, query, work))
        theirs.append(findscu(dcmtk_port, DCMTK_AE, query, work))
    return ours, theirs


def _figure(count: int, database: str, ours: list[float], theirs: list[float]) -> Figure:
    value, floor = statistics.median(ours), statistics.median(theirs)
    return Figure(
        f"MWL findscu, {count:,} items ({database})",
        value,
        "ms",
        floor_name="wlmscpfs, same items",
        floor_value=floor,
        goal="<= wlmscpfs",
        met=value <= floor,
        higher_is_better=False,
        note=(
            f"median of {len(ours)} findscu runs each, alternating; gateway min "
            f"{min(ours):.1f} ms, wlmscpfs min {min(theirs):.1f} ms"
        ),
    )


def run(quick: bool) -> list[Figure]:
    """The gateway beside wlmscpfs for 100 and 1,000 items, on SQLite, then PostgreSQL."""
    if shutil.which("wlmscpfs") is None or shutil.which("findscu") is None:
        raise RuntimeError("DCMTK is not installed (apt-get install dcmtk)")
    rounds = 5 if quick else 15
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-worklist-dcmtk-") as tmp:
        root = Path(tmp)
        for count in COUNTS:
            work = root / f"sqlite-{count}"
            work.mkdir()
            url = f"sqlite+aiosqlite:///{work / 'worklist.db'}"
            figures += _measure_one(url, "SQLite", work, count, rounds)
        for count in COUNTS:
            with postgres_database() as url:
                work = root / f"pg-{count}"
                work.mkdir()
                figures += _measure_one(url, "PostgreSQL", work, count, rounds)
    return figures


def _measure_one(url: str, database: str, work: Path, count: int, rounds: int) -> list[Figure]:
    today = datetime.now(UTC).date()
    query = work / "query.dcm"
    write_query(query, today)
    items = make_items(count, today)
    write_worklist_files(items, work / "wlistdb" / DCMTK_AE)
    asyncio.run(insert_orders(url, items))
    with wlmscpfs(work / "wlistdb", work) as dcmtk_port, gateway(url, work) as ports:
        ours, theirs = _compare(count, (ports["dicom"], dcmtk_port), query, work, rounds)
    return [_figure(count, database, ours, theirs)]


def main() -> None:
    figures = run(quick())
    print(table(figures))
    for figure in figures:
        print(f"- {figure.name}: {figure.note}")


if __name__ == "__main__":
    main()
