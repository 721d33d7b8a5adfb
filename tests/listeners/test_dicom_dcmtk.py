"""Debian's DCMTK tools (echoscu, storescu, findscu, dump2dcm) against a running gateway."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import select

from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from store.schema import instances, studies
from tests.conftest import IN_CI, RunningGateway
from tests.support.mllp_client import MllpClient


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
