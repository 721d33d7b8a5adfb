"""The worklist against DCMTK's: the same items, served by `wlmscpfs` from DCMTK's sample
worklist files and by the gateway from HL7 orders, asked the same queries by `findscu`."""

from __future__ import annotations

import asyncio
import gzip
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from fixtures.messages import omi_new_order
from gateway.keys import DICOM_LISTENER
from tests.conftest import IN_CI, RunningGateway, gateway_settings, start_gateway
from tests.listeners.test_dicom_dcmtk import run
from tests.support.mllp_client import MllpClient, segments
from tests.support.own_network import OwnNetwork, own_network_available, start_in_own_network

EXAMPLES = Path("/usr/share/doc/dcmtk/examples")
DCMTK_AE = "OFFIS"  # wlmscpfs serves the folder named after the called AE title


@pytest.fixture(autouse=True)
def dcmtk() -> None:
    """DCMTK and its worklist samples must be installed; in CI their absence fails the test."""
    if shutil.which("wlmscpfs") is None or not (EXAMPLES / "wlistdb").is_dir():
        if IN_CI:
            pytest.fail("DCMTK or its examples are not installed (apt-get install dcmtk)")
        pytest.skip("DCMTK or its examples are not installed")


def _dump_files(folder: Path) -> Iterator[tuple[str, str]]:
    """(name, dump text) of each sample, gunzipped where Debian compressed it."""
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".dump"):
            yield path.name[: -len(".dump")], path.read_text(encoding="latin-1")
        elif path.name.endswith(".dump.gz"):
            yield (
                path.name[: -len(".dump.gz")],
                gzip.decompress(path.read_bytes()).decode("latin-1"),
            )


async def _dump2dcm(name: str, text: str, folder: Path, suffix: str) -> Path:
    source, target = folder / f"{name}.dump", folder / f"{name}{suffix}"
    source.write_text(text, encoding="latin-1")
    status, output = await run("dump2dcm", "-q", str(source), str(target))
    assert status == 0, output
    return target


@dataclass
class Wlmscpfs:
    """DCMTK's worklist server over a folder of .wl files, in a network namespace of its own
    (it cannot bind port 0: its port is fixed there, where nothing else can take it)."""

    network: OwnNetwork
    items: list[Dataset]
    port: int = 104


@pytest.fixture
async def wlmscpfs(tmp_path: Path) -> AsyncIterator[Wlmscpfs]:
    """wlmscpfs serving DCMTK's sample worklist (wlistdb/OFFIS)."""
    if not own_network_available():
        message = "no network namespace may be made here (needs root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    database = tmp_path / "wlistdb" / DCMTK_AE
    database.mkdir(parents=True)
    (database / "lockfile").touch()
    items = []
    for name, text in _dump_files(EXAMPLES / "wlistdb" / DCMTK_AE):
        path = await _dump2dcm(name, text, database, ".wl")
        items.append(pydicom.dcmread(path))
    served = Wlmscpfs(
        await start_in_own_network("wlmscpfs", "-dfp", str(tmp_path / "wlistdb"), "104"), items
    )
    try:
        assert await served.network.listening(served.port), "wlmscpfs did not start"
        yield served
    finally:
        await served.network.stop()


def as_order(item: Dataset, number: int) -> bytes:
    """A sample worklist item as the OMI^O23 a RIS would send for it (times are UTC, the
    gateway's zone under test)."""
    step = item.ScheduledProcedureStepSequence[0]
    titles = step.ScheduledStationAETitle
    stations = (
        tuple(titles) if isinstance(titles, list | pydicom.multival.MultiValue) else (titles,)
    )
    return omi_new_order(
        item.AccessionNumber,
        control_id=f"WL{number}",
        start=step.ScheduledProcedureStepStartDate + step.ScheduledProcedureStepStartTime,
        patient_id=item.PatientID,
        name=str(item.PatientName),
        birth_date=item.get("PatientBirthDate", ""),
        sex=item.get("PatientSex", ""),
        procedure=f"{item.RequestedProcedureDescription}^{item.RequestedProcedureDescription}^L",
        requested_procedure_id=item.RequestedProcedureID,
        study_uid=item.StudyInstanceUID,
        step_id=step.ScheduledProcedureStepID,
        modality=step.Modality,
        station_name=step.get("ScheduledStationName", ""),
        stations=stations,
    )


@pytest.fixture
async def gateway(database_url: str, wlmscpfs: Wlmscpfs) -> AsyncIterator[RunningGateway]:
    """A gateway holding the sample items as HL7 orders; names match case-sensitively, as
    DCMTK matches them."""
    settings = gateway_settings(database_url, dicom={"worklist_case_insensitive_names": False})
    running = await start_gateway(settings)
    client = await MllpClient.connect("127.0.0.1", running.mllp_port)
    for number, item in enumerate(wlmscpfs.items):
        ack = await client.send(as_order(item, number))
        assert segments(ack)["MSA"][1] == "AA", ack
    await client.close()
    try:
        yield running
    finally:
        await running.runner.cleanup()


async def find(
    port: int, called: str, query: Dataset, folder: Path, enter: Sequence[str] = ()
) -> list[str]:
    """findscu -W with `query` (Accession Number added as a return key): the accession numbers
    answered, sorted. `enter` runs findscu in another network namespace (wlmscpfs's)."""
    await asyncio.to_thread(_write_query, folder, query)
    status, output = await run(
        *enter,
        "findscu",
        "-W",
        "-X",
        "-aet",
        "MODALITY1",
        "-aec",
        called,
        "127.0.0.1",
        str(port),
        "query.dcm",
        cwd=folder,
    )
    assert status == 0, output
    answers = await asyncio.to_thread(_read_answers, folder)
    return sorted(str(answer.AccessionNumber) for answer in answers)


def _write_query(folder: Path, query: Dataset) -> None:
    folder.mkdir()
    query = query.copy()
    if "AccessionNumber" not in query:
        query.AccessionNumber = ""
    pydicom.dcmwrite(folder / "query.dcm", query, implicit_vr=False, little_endian=True)


def _read_answers(folder: Path) -> list[Dataset]:
    return [pydicom.dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


def query(step: dict[str, Any] | None = None, **top: Any) -> Dataset:
    """An identifier: top-level keys, and a Scheduled Procedure Step item when `step` is given
    (its keys; Modality and station asked empty when not given)."""
    ds = Dataset()
    ds.PatientName = ""
    for keyword, value in top.items():
        setattr(ds, keyword, value)
    if step is not None:
        item = Dataset()
        for keyword in ("Modality", "ScheduledStationAETitle"):
            setattr(item, keyword, "")
        for keyword, value in step.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


# Queries of our own, one or more per matching rule (PS3.4 C.2.2.2), each run against both.
OWN_QUERIES: dict[str, Dataset] = {
    "universal: every key empty": query({}),
    "single value: station": query({"ScheduledStationAETitle": "AB45"}),
    "multi-valued station: first of two": query({"ScheduledStationAETitle": "AA32"}),
    "multi-valued station: last of four": query({"ScheduledStationAETitle": "TZ77"}),
    "multi-valued station: shared by two steps": query({"ScheduledStationAETitle": "NN77"}),
    "list of stations": query({"ScheduledStationAETitle": ["AA33", "AZ01"]}),
    "single value: modality": query({"Modality": "CT"}),
    "single value: patient id": query(PatientID="HF"),
    "single value: accession": query(AccessionNumber="00005"),
    "single value: requested procedure id": query(RequestedProcedureID="RP472"),
    "single value: whole name": query(PatientName="MOZART^WOLFGANG^AMADEUS"),
    "single value: family alone is no whole name": query(PatientName="HAYDN"),
    "wild card: name prefix": query(PatientName="MOZART*"),
    "wild card: name infix": query(PatientName="*FRANZ*"),
    "wild card: question mark": query(PatientName="?AYDN^FRANZ^JOSEPH"),
    "wild card: case-sensitive": query(PatientName="mozart*"),
    "date: single": query({"ScheduledProcedureStepStartDate": "19960406"}),
    "date: range": query({"ScheduledProcedureStepStartDate": "19960101-19960406"}),
    "date: open end": query({"ScheduledProcedureStepStartDate": "19960423-"}),
    "date: open start": query({"ScheduledProcedureStepStartDate": "-19951231"}),
    "time with no date: from noon": query({"ScheduledProcedureStepStartTime": "120000-"}),
    "time with no date: until ten": query({"ScheduledProcedureStepStartTime": "-100000"}),
    "time with no date: a range": query({"ScheduledProcedureStepStartTime": "0800-1400"}),
    "date and time range": query(
        {"ScheduledProcedureStepStartDate": "19960406", "ScheduledProcedureStepStartTime": "1200-"}
    ),
    "combined date-time range": query(
        {
            "ScheduledProcedureStepStartDate": "19960101-19961231",
            "ScheduledProcedureStepStartTime": "120000-",
        }
    ),
    "combined, open end of day": query(
        {
            "ScheduledProcedureStepStartDate": "19960101-19960406",
            "ScheduledProcedureStepStartTime": "-120000",
        }
    ),
    "station and date, as modalities ask": query(
        {"ScheduledStationAETitle": "NN77", "ScheduledProcedureStepStartDate": "19960423"}
    ),
    "latin-1 query": query(SpecificCharacterSet="ISO_IR 100", PatientName="VIVALDI*"),
}


# Where wlmscpfs departs from the standard, the gateway follows the standard: wlmscpfs takes
# Scheduled Station Name and Scheduled Procedure Step ID as return keys only (every item), and
# reads "*" in an AE title literally (no item), though PS3.4 C.2.2.2.4 allows wild cards in AE.
# Each: the query, and the items the standard (and the gateway) find.
STANDARD_NOT_DCMTK: dict[str, tuple[Dataset, list[str]]] = {
    "single value: station name": (query({"ScheduledStationName": "STN456"}), ["00000"]),
    "single value: step id": (query({"ScheduledProcedureStepID": "SPD1342"}), ["00002"]),
    "wild card: station": (query({"ScheduledStationAETitle": "AA3*"}), ["00000", "00004"]),
}


@pytest.fixture
async def both(gateway: RunningGateway, wlmscpfs: Wlmscpfs) -> tuple[int, Wlmscpfs]:
    return gateway.app[DICOM_LISTENER].port, wlmscpfs


async def find_dcmtk(served: Wlmscpfs, query: Dataset, folder: Path) -> list[str]:
    """`find` against wlmscpfs, from inside its network namespace."""
    return await find(served.port, DCMTK_AE, query, folder, served.network.enter)


async def test_dcmtk_sample_queries_match_the_same_items(
    both: tuple[int, Wlmscpfs], tmp_path: Path
) -> None:
    """Every DCMTK sample query (wlistqry) finds the same items in the gateway as in wlmscpfs."""
    ours, theirs = both
    compared = 0
    for name, text in _dump_files(EXAMPLES / "wlistqry"):
        path = await _dump2dcm(name, text, tmp_path, ".dcm")
        identifier = pydicom.dcmread(path, force=True)
        expected = await find_dcmtk(theirs, identifier, tmp_path / f"{name}-dcmtk")
        found = await find(ours, "IMAGING_GW", identifier, tmp_path / f"{name}-gw")
        assert found == expected, name
        compared += 1
    assert compared >= 13


async def test_own_queries_match_the_same_items(both: tuple[int, Wlmscpfs], tmp_path: Path) -> None:
    """Queries of our own, one or more per matching rule, find the same items in both."""
    ours, theirs = both
    differ = {}
    for number, (name, identifier) in enumerate(OWN_QUERIES.items()):
        expected = await find_dcmtk(theirs, identifier, tmp_path / f"{number}-dcmtk")
        found = await find(ours, "IMAGING_GW", identifier, tmp_path / f"{number}-gw")
        if found != expected:
            differ[name] = (found, expected)
    assert differ == {}, "\n".join(
        f"{k}: gateway {v[0]}, wlmscpfs {v[1]}" for k, v in differ.items()
    )


async def test_where_dcmtk_departs_the_gateway_follows_the_standard(
    both: tuple[int, Wlmscpfs], tmp_path: Path
) -> None:
    """Station name, step id and AE wild cards match as PS3.4 says, where wlmscpfs does not."""
    ours, theirs = both
    for number, (name, (identifier, standard)) in enumerate(STANDARD_NOT_DCMTK.items()):
        found = await find(ours, "IMAGING_GW", identifier, tmp_path / f"{number}-gw")
        dcmtk = await find_dcmtk(theirs, identifier, tmp_path / f"{number}-dcmtk")
        assert found == standard, name
        assert dcmtk != standard, f"{name}: wlmscpfs now follows the standard; compare directly"
