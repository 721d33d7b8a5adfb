"""Hostile C-STOREs: UIDs that try to leave the storage folder, and instances far larger than
memory should hold. A real pynetdicom SCU and DCMTK's storescu send them."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, build_context
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
)
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from fixtures import dicom as fx
from gateway.keys import DICOM_LISTENER
from store.schema import instances, messages
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.gateway_process import gateway_process

STUDY, SERIES, SOP = "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"

# Each way a UID was seen to escape the storage folder, and one that is merely not a UID.
HOSTILE_UIDS = [
    pytest.param(STUDY, "../../escaped", id="study-dotdot"),
    pytest.param(STUDY, "/tmp/imaging-gw-escaped", id="study-absolute"),
    pytest.param(SERIES, "../..", id="series-dotdot"),
    pytest.param(SOP, "../../../escaped", id="sop-dotdot"),
    pytest.param(SOP, "1.2/3", id="sop-slash"),
    pytest.param(STUDY, "1." + "2" * 70, id="study-too-long"),
]


@pytest.fixture
async def storing_gateway(database_url: str, tmp_path: Path) -> RunningGateway:
    """A gateway that keeps files, its storage folder two levels below the test's folder."""
    storage = tmp_path / "var" / "dicom"
    settings = gateway_settings(database_url, dicom={"storage_dir": storage})
    running = await start_gateway(settings)
    try:
        yield running
    finally:
        await running.runner.cleanup()


# pydicom warns, rightly, while the test builds the hostile values.
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
@pytest.mark.parametrize(("keyword", "value"), HOSTILE_UIDS)
async def test_a_uid_that_is_no_uid_writes_no_file_and_is_refused(
    storing_gateway: RunningGateway, tmp_path: Path, keyword: str, value: str
) -> None:
    """Refused with 0xA900 naming the attribute; no file anywhere, the AE serves on."""
    image = fx.ct_instance(accession="HOSTILE1")
    setattr(image, keyword, value)
    scu = Scu(storing_gateway.app[DICOM_LISTENER].port)
    assert await asyncio.to_thread(scu.store, image) == [0xA900]

    assert _files(tmp_path) == []
    assert _files(Path("/tmp"), "imaging-gw-escaped*") == []
    async with storing_gateway.engine.connect() as conn:
        (logged,) = (await conn.execute(select(messages))).mappings()
        indexed = (await conn.execute(select(instances))).all()
    assert (logged["outcome"], indexed) == ("rejected", [])
    assert keyword in logged["error"] and "not a valid UID" in logged["error"]

    good = fx.ct_instance(accession="HOSTILE2")
    assert await asyncio.to_thread(scu.store, good) == [0x0000]
    storage = storing_gateway.settings.dicom.storage_dir
    kept = storage / good.StudyInstanceUID / good.SeriesInstanceUID / f"{good.SOPInstanceUID}.dcm"
    assert _files(tmp_path) == [kept]


def _files(folder: Path, pattern: str = "*") -> list[Path]:
    """Instance files and partial files below `folder`, or its entries matching `pattern`."""
    if pattern != "*":
        return list(folder.glob(pattern))
    return [p for p in folder.rglob("*") if p.suffix in (".dcm", ".part")]


def _large_instance(path: Path, keyword: str, size: int) -> Dataset:
    """A CT image or an encapsulated PDF whose bulk value is `size` bytes, saved at `path`."""
    ds = fx.ct_instance(accession=f"BIG-{keyword[:8]}")
    if keyword == "EncapsulatedDocument":
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF Storage
        ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
        ds.EncapsulatedDocument = b"%PDF" + bytes(size - 4)
    else:
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored = 10240, size // 20480, 16, 16
        ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 0, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(size)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return ds


def _reset_peak(pid: int) -> None:
    """Start the process's peak RSS (VmHWM) again from its current RSS (proc(5) clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _memory(pid: int) -> dict[str, int]:
    """The process's resident set and its peak (kB), from /proc."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("storescu") is None, reason="needs DCMTK's storescu")
async def test_a_200_mb_instance_costs_less_memory_than_its_size(tmp_path: Path) -> None:
    """A 200 MB image and a 200 MB PDF each raise the gateway's peak RSS by less than their
    size, RSS returns to its baseline, and the message log keeps no bulk data."""
    size = 200 * 1024 * 1024
    sources = {k: tmp_path / f"{k}.dcm" for k in ("PixelData", "EncapsulatedDocument")}
    for keyword, path in sources.items():
        _large_instance(path, keyword, size)
    database = tmp_path / "gateway.db"
    storage = tmp_path / "dicom"
    env = {"IMAGING_GW_DICOM_STORAGE_DIR": str(storage)}
    async with gateway_process(f"sqlite+aiosqlite:///{database}", tmp_path, env) as gateway:
        port = gateway.ports["dicom"]
        small = tmp_path / "small.dcm"
        fx.ct_instance(accession="WARMUP").save_as(small, enforce_file_format=True)
        await _storescu(port, small)  # every code path loaded before the baseline
        baseline = _memory(gateway.pid)["VmRSS"]
        for keyword, path in sources.items():
            _reset_peak(gateway.pid)
            await _storescu(port, path)
            after = _memory(gateway.pid)
            peak_rise, settled = after["VmHWM"] - baseline, after["VmRSS"] - baseline
            assert peak_rise * 1024 < size, f"{keyword}: peak rose {peak_rise} kB"
            assert settled < 32 * 1024, f"{keyword}: RSS stayed {settled} kB above baseline"

    with sqlite3.connect(database) as db:
        logged = db.execute("select message_type, length(raw) from messages").fetchall()
    assert len(logged) == 3 and all(length < 64 * 1024 for _, length in logged), logged
    # Kept whole: the same data set; only the file meta (our implementation UID) differs.
    kept = sorted(p.stat().st_size for p in storage.rglob("*.dcm"))[-2:]
    sent = sorted(p.stat().st_size for p in sources.values())
    assert all(abs(a - b) < 256 for a, b in zip(kept, sent, strict=True)), (kept, sent)


async def _storescu(port: int, path: Path) -> None:
    """Send one file with DCMTK's storescu and require success."""
    result = await asyncio.to_thread(
        subprocess.run,
        ["storescu", "-aec", "IMAGING_GW", "-aet", "MODALITY1", "127.0.0.1", str(port), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def _associate_rq(calling: str) -> bytes:
    """An A-ASSOCIATE-RQ PDU for Verification, as any modality sends it (PS3.8 9.3.2)."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = "IMAGING_GW"
    context = build_context(Verification)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16384
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [max_length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


async def _open_association(port: int, request: bytes, started: float) -> tuple[int, float]:
    """Connect, ask to associate, and return the answer's PDU type and when it came; the
    connection stays open until the test is done, so the associations overlap."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.readexactly(1)  # 0x02 A-ASSOCIATE-AC, 0x03 A-ASSOCIATE-RJ
    answered = time.perf_counter() - started
    _OPEN.append(writer)
    return answer[0], answered


_OPEN: list[asyncio.StreamWriter] = []


async def test_fifty_associations_at_once_are_each_accepted_or_rejected(
    database_url: str,
) -> None:
    """Fifty associations opened together with a limit of 20: each gets A-ASSOCIATE-AC or
    A-ASSOCIATE-RJ within 2 s; none is dropped, none waits on a SYN retry."""
    settings = gateway_settings(database_url, dicom={"max_associations": 20})
    gateway = await start_gateway(settings)
    try:
        port = gateway.app[DICOM_LISTENER].port
        request = _associate_rq("MODALITY1")
        started = time.perf_counter()
        answers = await asyncio.wait_for(
            asyncio.gather(*(_open_association(port, request, started) for _ in range(50))), 30
        )
        kinds = [kind for kind, _ in answers]
        assert sorted(set(kinds)) == [0x02, 0x03], kinds
        assert 1 <= kinds.count(0x02) <= 20 and kinds.count(0x03) >= 30
        slowest = max(seconds for _, seconds in answers)
        assert slowest < 2.0, f"slowest answer after {slowest:.2f} s"
    finally:
        for writer in _OPEN:
            writer.transport.abort()
        _OPEN.clear()
        await gateway.runner.cleanup()
