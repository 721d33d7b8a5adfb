"""Debian's DCMTK tools (echoscu, storescu, findscu, dump2dcm) against a running gateway."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import select

from fixtures.messages import omi_new_order, orm_new_order
from gateway.keys import DICOM_LISTENER
from store.schema import instances, studies
from tests.conftest import IN_CI, RunningGateway, gateway_settings, start_gateway
from tests.support.mllp_client import MllpClient, segments


@pytest.fixture(autouse=True)
def dcmtk() -> None:
    """DCMTK must be installed (.ci/run installs it); in CI its absence fails the test."""
    if shutil.which("storescu") is None:
        if IN_CI:
            pytest.fail("DCMTK is not installed (apt-get install dcmtk)")
        pytest.skip("DCMTK is not installed")


async def run(*command: str, cwd: Path | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode(errors="replace")


def peer(gateway: RunningGateway) -> list[str]:
    return [
        "-aet",
        "MODALITY1",
        "-aec",
        "IMAGING_GW",
        "127.0.0.1",
        str(gateway.app[DICOM_LISTENER].port),
    ]


async def test_echoscu(gateway: RunningGateway) -> None:
    """DCMTK's echoscu gets a successful C-ECHO."""
    status, output = await run("echoscu", *peer(gateway))
    assert status == 0, output


@pytest.mark.parametrize(
    ("option", "sample", "transfer_syntax"),
    [
        ("-xe", "CT_small.dcm", "1.2.840.10008.1.2.1"),
        ("-xe", "MR_small.dcm", "1.2.840.10008.1.2.1"),
        ("-xw", "JPEG2000.dcm", "1.2.840.10008.1.2.4.91"),
        ("-xy", "SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),
        ("-xr", "MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),
    ],
)
async def test_storescu_sends_pydicom_samples_as_they_are(
    gateway: RunningGateway, option: str, sample: str, transfer_syntax: str
) -> None:
    """storescu stores pydicom's own images, compressed ones accepted as they come."""
    path = get_testdata_file(sample)
    expected = pydicom.dcmread(path, stop_before_pixels=True)
    status, output = await run("storescu", option, *peer(gateway), path)
    assert status == 0, output
    async with gateway.engine.connect() as conn:
        instance = (await conn.execute(select(instances))).mappings().one()
        study = (await conn.execute(select(studies))).mappings().one()
    assert instance["sop_instance_uid"] == expected.SOPInstanceUID
    assert instance["transfer_syntax"] == transfer_syntax
    assert study["study_instance_uid"] == expected.StudyInstanceUID


def read_answers(folder: Path) -> list[pydicom.Dataset]:
    """The C-FIND responses findscu -X wrote, in order."""
    return [pydicom.dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


KEYS = """\
(0008,0005) CS [ISO_IR 192]
(0008,0050) SH []
(0010,0010) PN []
(0010,0020) LO []
(0020,000d) UI []
(0032,1060) LO []
(0040,1001) SH []
(0040,0100) SQ (Sequence with explicit length #=1)
  (fffe,e000) na (Item with explicit length #=4)
    (0008,0060) CS [{modality}]
    (0040,0001) AE []
    (0040,0002) DA [{date}]
    (0040,0007) LO []
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
"""


async def test_findscu_worklist_returns_the_hl7_order(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    """findscu -W with a key file from dump2dcm finds the order HL7 placed, with its UID."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    await client.send(
        orm_new_order(
            "FIND1", control_id="F1", family="GARCÍA", given="ANA", ordered_at="20260302101500"
        )
    )
    await client.send(
        orm_new_order(
            "FIND2", control_id="F2", modality="MR", patient_id="MRN2", ordered_at="20260302101500"
        )
    )
    await client.close()
    (tmp_path / "keys.dump").write_text(KEYS.format(modality="CT", date="20260302"))
    status, output = await run("dump2dcm", "keys.dump", "keys.dcm", cwd=tmp_path)
    assert status == 0, output
    status, output = await run("findscu", "-W", "-X", *peer(gateway), "keys.dcm", cwd=tmp_path)
    assert status == 0, output
    answers = read_answers(tmp_path)
    assert [answer.AccessionNumber for answer in answers] == ["FIND1"]
    answer = answers[0]
    assert str(answer.PatientName) == "GARCÍA^ANA^Q"
    assert answer.SpecificCharacterSet == "ISO_IR 192"
    assert answer.StudyInstanceUID.startswith("2.25.")
    assert answer.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20260302"


STATION_KEYS = """\
(0008,0050) SH []
(0010,0010) PN []
(0040,0100) SQ (Sequence with explicit length #=1)
  (fffe,e000) na (Item with explicit length #=4)
    (0008,0060) CS []
    (0040,0001) AE [{station}]
    (0040,0002) DA [{date}]
    (0040,0010) SH []
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
"""


async def ask_station(gateway: RunningGateway, folder: Path, station: str, day: str) -> list:
    """findscu -W for one station and day, as a modality asks for its own worklist."""
    await asyncio.to_thread(folder.mkdir)
    (folder / "keys.dump").write_text(STATION_KEYS.format(station=station, date=day))
    status, output = await run("dump2dcm", "keys.dump", "keys.dcm", cwd=folder)
    assert status == 0, output
    command = ("findscu", "-W", "-X", *peer(gateway), "keys.dcm")
    status, output = await run(*command, cwd=folder)
    assert status == 0, output
    return read_answers(folder)


async def test_findscu_finds_omi_orders_by_their_ipc_9_station_and_today(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    """A modality asking for its own AE title and today gets the OMI^O23 orders whose IPC-9
    names it, a step on two stations included; other stations and days stay out."""
    today = datetime.now(UTC).date()
    day, tomorrow = today.strftime("%Y%m%d"), (today + timedelta(days=1)).strftime("%Y%m%d")
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    orders = [
        ("IPC1", f"{day}120000", ("CT01", "CT02"), "CT ROOM 1"),
        ("IPC2", f"{day}130000", ("MR01",), "MR ROOM"),
        ("IPC3", f"{tomorrow}090000", ("CT01",), "CT ROOM 1"),
    ]
    for accession, start, stations, name in orders:
        message = omi_new_order(
            accession, control_id=accession, start=start, stations=stations, station_name=name
        )
        assert segments(await client.send(message))["MSA"][1] == "AA"
    await client.close()
    for station, expected in (("CT01", ["IPC1"]), ("CT02", ["IPC1"]), ("MR01", ["IPC2"])):
        answers = await ask_station(gateway, tmp_path / station, station, day)
        assert [answer.AccessionNumber for answer in answers] == expected, station
    (answer,) = await ask_station(gateway, tmp_path / "again", "CT02", day)
    step = answer.ScheduledProcedureStepSequence[0]
    assert list(step.ScheduledStationAETitle) == ["CT01", "CT02"]
    assert step.ScheduledStationName == "CT ROOM 1"


async def test_findscu_finds_orders_by_the_settings_station_table(
    database_url: str, tmp_path: Path
) -> None:
    """An ORM^O01 that names no station is on the stations `[worklist.stations]` gives its
    modality."""
    settings = gateway_settings(database_url, worklist={"stations": {"MR": ("MR01", "MR02")}})
    running = await start_gateway(settings)
    try:
        client = await MllpClient.connect("127.0.0.1", running.mllp_port)
        await client.send(
            orm_new_order("TAB1", control_id="T1", modality="MR", ordered_at="20260302101500")
        )
        await client.close()
        answers = await ask_station(running, tmp_path / "mr02", "MR02", "20260302")
        assert [answer.AccessionNumber for answer in answers] == ["TAB1"]
        answers = await ask_station(running, tmp_path / "ct01", "CT01", "20260302")
        assert answers == []
    finally:
        await running.runner.cleanup()
