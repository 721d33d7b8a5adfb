"""Received instances read for the index and the log: the log keeps the data set as received
less its bulk data, whichever way it is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from listeners.dicom_files import BULK_LIMIT, read_instance, without_bulk


def _reencoded(path: Path) -> bytes:
    """What the log kept before the fast path: the data set re-encoded without bulk data."""
    dataset = dcmread(path, defer_size=BULK_LIMIT, stop_before_pixels=True)
    buffer = DicomBytesIO()
    syntax = dataset.file_meta.TransferSyntaxUID
    buffer.is_little_endian = syntax.is_little_endian
    buffer.is_implicit_VR = syntax.is_implicit_VR
    write_dataset(buffer, without_bulk(dataset))
    return buffer.getvalue()


def _saved(dataset: Dataset, path: Path) -> Path:
    dataset.save_as(path, enforce_file_format=True)
    return path


def _ct() -> Dataset:
    return dcmread(get_testdata_file("CT_small.dcm"))


def _read_bare(encoded: bytes, syntax: str) -> Dataset:
    uid = UID(syntax)
    return read_dataset(DicomBytesIO(encoded), uid.is_implicit_VR, uid.is_little_endian)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"])
def test_an_instance_without_other_bulk_is_logged_as_received(name: str) -> None:
    """The received bytes up to the pixel data, verbatim: the same elements as re-encoding
    without bulk data gives (a sequence keeps the length encoding it was sent with)."""
    path = Path(get_testdata_file(name))
    dataset, logged = read_instance(path)
    syntax = dataset.file_meta.TransferSyntaxUID
    assert logged in path.read_bytes()
    assert _read_bare(logged, syntax) == _read_bare(_reencoded(path), syntax)
    assert "PixelData" not in dataset and dataset.SOPInstanceUID


def test_an_implicit_vr_instance_is_logged_as_received(tmp_path: Path) -> None:
    """Implicit VR little endian: the log's bytes are still the received encoding."""
    dataset = _ct()
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = _saved(dataset, tmp_path / "implicit.dcm")
    assert read_instance(path)[1] == _reencoded(path)


def test_bulk_before_the_pixel_data_is_left_out(tmp_path: Path) -> None:
    """A large OB value before the pixel data never reaches the log; the rest does."""
    dataset = _ct()
    dataset.add_new(0x00091010, "OB", b"\x01" * (BULK_LIMIT + 2))  # a private bulk value
    path = _saved(dataset, tmp_path / "private-bulk.dcm")
    _, logged = read_instance(path)
    assert logged == _reencoded(path)
    assert len(logged) < BULK_LIMIT and b"\x01" * 1024 not in logged


def test_a_deflated_instance_is_logged_inflated(tmp_path: Path) -> None:
    """A deflated data set cannot be sliced: the log keeps it re-encoded, not compressed."""
    dataset = _ct()
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = _saved(dataset, tmp_path / "deflated.dcm")
    _, logged = read_instance(path)
    assert logged == _reencoded(path)
    assert str(dataset.PatientName).encode() in logged


def test_an_instance_without_pixel_data_is_logged_whole(tmp_path: Path) -> None:
    """No pixel data (a report, a presentation state): the whole data set, as received."""
    dataset = _ct()
    del dataset.PixelData
    path = _saved(dataset, tmp_path / "no-pixels.dcm")
    _, logged = read_instance(path)
    assert path.read_bytes().endswith(logged) and logged == _reencoded(path)
