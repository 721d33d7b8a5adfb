"""Received instances read for the index and the log: the log keeps the data set as received
less its bulk data, whichever way it is read; a kept file is durable with every folder name
above it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from listeners.dicom_files import (
    BULK_LIMIT,
    DurableFolders,
    StoragePathError,
    place_file,
    read_instance,
    storage_path,
    without_bulk,
)


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


def _flushes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the path behind every fsync, then let it happen."""
    synced: list[Path] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def _placed(storage: Path, study: str, series: str, instance: str) -> Path:
    target = storage_path(storage, study, series, instance)
    received = storage.parent / f"{instance}.received"
    received.write_bytes(b"DICM")
    place_file(received, target)
    return target


def test_a_new_study_flushes_every_new_folder_name_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first file of a study makes its series, study and the storage folder durable;
    later files of the series flush only their own name; a new series flushes its study."""
    storage = (tmp_path / "storage").resolve()
    storage.mkdir()
    folders = DurableFolders(storage)
    synced = _flushes(monkeypatch)
    first = _placed(storage, "1.2", "1.2.3", "1.2.3.4")
    assert folders.flushed(first, "CT01")
    series, study = first.parent, first.parent.parent
    assert synced == [first, series, study, storage]
    synced.clear()
    second = _placed(storage, "1.2", "1.2.3", "1.2.3.5")
    assert folders.flushed(second, "CT01")
    assert synced == [second, series]
    synced.clear()
    other = _placed(storage, "1.2", "1.2.9", "1.2.9.1")
    assert folders.flushed(other, "CT01")
    assert synced == [other, other.parent, study]


def test_a_failed_flush_is_answered_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose parent could not be flushed is not taken as durable."""
    storage = (tmp_path / "storage").resolve()
    storage.mkdir()
    folders = DurableFolders(storage)
    target = _placed(storage, "1.2", "1.2.3", "1.2.3.4")
    calls: list[int] = []
    real = os.fsync

    def failing(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:  # the study folder, holding the series folder's name
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    assert not folders.flushed(target, "CT01")
    synced = _flushes(monkeypatch)
    assert folders.flushed(target, "CT01")
    assert synced == [target, target.parent, target.parent.parent, storage]


@pytest.mark.parametrize(
    "uids",
    [("..", "1.2", "1.3"), ("1.1", ".", "1.3"), ("1.1", "1.2", ""), ("1.1", "a/../../b", "1.3")],
)
def test_a_name_that_would_leave_the_storage_folder_is_refused(
    tmp_path: Path, uids: tuple[str, str, str]
) -> None:
    with pytest.raises(StoragePathError):
        storage_path(tmp_path, *uids)


def test_an_instance_is_kept_under_its_study_and_series(tmp_path: Path) -> None:
    target = storage_path(tmp_path, "1.1", "1.2", "1.3")
    assert target == tmp_path.resolve() / "1.1" / "1.2" / "1.3.dcm"


def test_a_new_instance_is_linked_straight_to_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new instance, in a new series folder or a known one, takes its name with a hard link
    alone: no `.part` name and no rename."""

    def no_rename(*_: object) -> None:
        raise AssertionError("renamed")

    monkeypatch.setattr(os, "replace", no_rename)
    storage = (tmp_path / "storage").resolve()
    first = _placed(storage, "1.2", "1.2.3", "1.2.3.4")
    second = _placed(storage, "1.2", "1.2.3", "1.2.3.5")
    assert first.read_bytes() == second.read_bytes() == b"DICM"
    assert sorted(p.name for p in first.parent.iterdir()) == ["1.2.3.4.dcm", "1.2.3.5.dcm"]


def test_a_resent_instance_replaces_the_file(tmp_path: Path) -> None:
    """An instance sent again replaces the kept file whole, leaving no `.part` file behind."""
    storage = (tmp_path / "storage").resolve()
    target = _placed(storage, "1.2", "1.2.3", "1.2.3.4")
    again = storage.parent / "again.received"
    again.write_bytes(b"DICM again")
    place_file(again, target)
    assert target.read_bytes() == b"DICM again"
    assert [p.name for p in target.parent.iterdir()] == ["1.2.3.4.dcm"]


def test_a_copied_instance_is_not_the_received_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """place_file says whether the kept file is the received one (a link) or a copy, whose
    data an earlier flush of the received file does not cover."""
    storage = (tmp_path / "storage").resolve()
    linked = storage_path(storage, "1.2", "1.2.3", "1.2.3.4")
    received = tmp_path / "a.received"
    received.write_bytes(b"DICM")
    assert place_file(received, linked)

    def other_file_system(*_: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", other_file_system)
    copied = storage_path(storage, "1.2", "1.2.3", "1.2.3.5")
    assert not place_file(received, copied)
    assert copied.read_bytes() == b"DICM"


def test_a_file_flushed_on_arrival_leaves_only_its_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The received file is flushed as it arrives; once linked, its name's folders alone are
    flushed, and a failed early flush fails the instance."""
    storage = (tmp_path / "storage").resolve()
    storage.mkdir()
    folders = DurableFolders(storage)
    try:
        received = tmp_path / "b.received"
        received.write_bytes(b"DICM")
        synced = _flushes(monkeypatch)
        early = folders.flush_received(received)
        early.result(5)
        assert synced == [received]
        target = storage_path(storage, "1.2", "1.2.3", "1.2.3.4")
        assert place_file(received, target)
        synced.clear()
        assert folders.flushed(target, "CT01", early)
        assert synced == [target.parent, target.parent.parent, storage]
        failed = folders.flush_received(tmp_path / "gone.received")
        assert not folders.flushed(target, "CT01", failed)
    finally:
        folders.close()
