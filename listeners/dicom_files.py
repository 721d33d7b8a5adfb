"""Received instances on disk: read without their bulk data, and kept under the storage folder.

pynetdicom writes each C-STORE data set to a temporary file as its fragments arrive
(`STORE_RECV_CHUNKED_DATASET`), so an instance of any size costs a few PDUs of memory. From
that file the index reads the attributes before the pixel data, with every large value left
on disk, and the message log keeps the data set less its bulk data.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from listeners.dicom_bulk import BULK_LIMIT, BULK_TAGS, BULK_VRS
from listeners.dicom_header import read_header, tags_of
from mappers.dicom import errors as status
from mappers.dicom.errors import DicomMappingError
from mappers.dicom.instances import INDEXED_KEYWORDS

log = logging.getLogger("listeners.dicom")

_COPY_CHUNK = 1024 * 1024
_NOT_IN_NAMES = frozenset({os.sep, os.altsep or os.sep, "\0"})
INDEXED_TAGS = tags_of(INDEXED_KEYWORDS)
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian


class StoragePathError(ValueError):
    """A file name built from an instance's UIDs would leave the storage folder."""


def read_instance(path: Path) -> tuple[Dataset, bytes]:
    """The received data set up to its pixel data, large values deferred (read on access),
    and its encoding as received less bulk data, for the message log.

    Most instances take the one-pass header reader, which keeps only the indexed elements;
    the rest are read whole by pydicom.

    Raises:
        Exception: whatever pydicom raises for a file it cannot read.
    """
    header = read_header(path, INDEXED_TAGS)
    if header is not None:
        return header
    with path.open("rb") as file:
        dataset = dcmread(file, defer_size=BULK_LIMIT, stop_before_pixels=True)
        syntax = UID(dataset.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
        as_received = _bytes_before_pixels(file, dataset, syntax)
    if as_received is not None:
        return dataset, as_received
    buffer = DicomBytesIO()
    buffer.is_little_endian = syntax.is_little_endian
    buffer.is_implicit_VR = syntax.is_implicit_VR
    write_dataset(buffer, without_bulk(dataset))
    return dataset, buffer.getvalue()


def _bytes_before_pixels(file: BinaryIO, dataset: Dataset, syntax: UID) -> bytes | None:
    """The data set's bytes as received, up to its pixel data, when they hold no other bulk
    data: what re-encoding it without bulk data would give, at the cost of one read.

    None when they cannot be taken as they are: a deflated data set, any bulk value before
    the pixel data, or a reader that did not stop at the pixel data or the end.
    """
    end = file.tell()
    if syntax.is_deflated or _holds_bulk(dataset):
        return None
    start = 128 + 4 + 12 + int(dataset.file_meta.get("FileMetaInformationGroupLength", -1))
    file.seek(end)
    following = file.read(4)
    if following not in (_PIXEL_DATA_TAG, b"") or not 0 < start <= end:
        return None
    file.seek(start)
    return file.read(end - start)


def _holds_bulk(dataset: Dataset) -> bool:
    for tag in sorted(dataset.keys()):
        element = dataset.get_item(tag, keep_deferred=True)
        if element is None or _is_bulk(element):
            return True
        if element.VR == "SQ" and any(_holds_bulk(item) for item in dataset[tag].value):
            return True
    return False


def without_bulk(dataset: Dataset) -> Dataset:
    """A copy of `dataset` without bulk data: no pixel data, documents or waveforms, and no
    OB, OW or UN value over BULK_LIMIT, in sequences too; other values stay as received."""
    kept = Dataset()
    for tag in sorted(dataset.keys()):
        # keep_deferred: a large value stays on disk until it is known not to be bulk data.
        element = dataset.get_item(tag, keep_deferred=True)
        if element is None or isinstance(element, Dataset) or _is_bulk(element):
            continue
        if element.VR == "SQ":
            items = [without_bulk(item) for item in dataset[element.tag].value]
            kept[element.tag] = DataElement(element.tag, "SQ", Sequence(items))
        elif isinstance(element, RawDataElement) and element.value is None:
            kept[element.tag] = dataset[element.tag]  # deferred, yet not bulk: read it now
        else:
            kept[element.tag] = element
    return kept


def _is_bulk(element: DataElement | RawDataElement) -> bool:
    if int(element.tag) in BULK_TAGS:
        return True
    if element.VR not in BULK_VRS:
        return False
    if isinstance(element, RawDataElement):
        return element.length > BULK_LIMIT
    value = element.value
    return isinstance(value, bytes | bytearray) and len(value) > BULK_LIMIT


def storage_path(storage_dir: Path, study: str, series: str, instance: str) -> Path:
    """Where an instance is kept: storage_dir/study/series/instance.dcm.

    The UIDs must already be valid (digits and dots); this checks once more that the result
    stays inside the storage folder, whatever the UIDs were: each must be one plain name,
    neither empty nor "." or "..", holding no separator or NUL. The storage folder is the
    gateway's own, with no links in it, so a name-by-name check is as strict as resolving
    the path and costs no system call per instance.

    Raises:
        StoragePathError: the path would leave the storage folder.
    """
    if not all(map(_is_plain_name, (study, series, instance))):
        raise StoragePathError("an instance's file would leave the storage folder")
    return _root(storage_dir).joinpath(study, series, f"{instance}.dcm")


def _is_plain_name(name: str) -> bool:
    return name not in {"", ".", ".."} and not _NOT_IN_NAMES.intersection(name)


@functools.cache
def _root(storage_dir: Path) -> Path:
    return storage_dir.resolve()


def kept_at(storage_dir: Path | None, uids: Mapping[str, str]) -> Path | None:
    """Where an instance is kept, or None when files are not kept.

    Raises:
        DicomMappingError: its UIDs would name a file outside the storage folder.
    """
    if storage_dir is None:
        return None
    try:
        return storage_path(
            storage_dir, uids["StudyInstanceUID"], uids["SeriesInstanceUID"], uids["SOPInstanceUID"]
        )
    except StoragePathError as exc:
        raise DicomMappingError(str(exc), status.IDENTIFIER_DOES_NOT_MATCH) from exc


def place_file(received: Path, target: Path) -> bool:
    """Put the received file at `target` atomically: a hard link when the temporary file is
    on the same file system (no copy; pynetdicom then removes only its own name), else a copy
    in chunks; no partial file ever bears the name. True when `target` is the received file
    itself (a link), False for a copy. Not yet durable: see `DurableFolders`.

    A new instance is linked straight to its name (the received file is whole by now), with
    its folders made only when missing: one system call, where a `.part` name, a rename and a
    `mkdir` were four. A resent instance replaces the old file through a `.part` name and a
    rename, as a copy across file systems does.
    """
    try:
        os.link(received, target)
        return True
    except FileNotFoundError:  # its series folder is new (the received file is there)
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError, OSError):
            os.link(received, target)
            return True
    except OSError:  # sent again (EEXIST), another file system (EXDEV), or no hard links
        pass
    return _replace(received, target)


def _replace(received: Path, target: Path) -> bool:
    part = target.with_name(f"{target.name}.{secrets.token_hex(8)}.part")
    linked = True
    try:
        try:
            os.link(received, part)
        except OSError:  # another file system (EXDEV), or no hard links there
            linked = False
            with received.open("rb") as source, part.open("wb") as copy:
                shutil.copyfileobj(source, copy, _COPY_CHUNK)
        os.replace(part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return linked


class DurableFolders:
    """Which storage folders have their own name on disk, so that a file placed in one is
    durable once the file and the folder holding it are flushed (POSIX: a new name is durable
    after an fsync of the directory holding it, and that directory's own name likewise).

    The first file of a study flushes the series folder, the study folder and the storage
    folder; every later file of the series only the series folder. Shared by the SCP's
    association threads; a folder is marked only after its parent's flush succeeded, so a
    second thread that sees it unmarked flushes the parent itself.

    A received file's data can be flushed as soon as it arrived (`flush_received`), on a
    thread of the folders' own, while the handler reads and maps it; once it is linked to
    its name, only the folders remain (write, flush, link, flush the folder: the usual
    order for a durable new file). That took the file's flush off the answer's path.
    """

    # Past this many folders the set starts again: it costs a few flushes, never durability.
    CAPACITY = 100_000

    def __init__(self, storage_dir: Path, workers: int = 8) -> None:
        self._root = str(storage_dir.resolve())
        self._named: set[str] = set()
        self._lock = threading.Lock()
        self._workers = workers
        self._early = ThreadPoolExecutor(workers, thread_name_prefix="dicom-flush")

    def flush_received(self, received: Path) -> Future[None]:
        """Start flushing a received file's data now; the future fails with the OSError."""
        return self._early.submit(_sync, str(received), os.O_RDONLY)

    def flushed(self, target: Path, peer: str, data: Future[None] | None = None) -> bool:
        """Flush a placed file (or wait for `data`, its own flush begun earlier), its name,
        and the name of each folder above it not yet flushed; False, logged, when that
        failed: the sender must send the instance again."""
        # Folder names as strings: Path arithmetic and hashing cost more than the flushes'
        # own Python work, for every instance.
        try:
            placed = str(target)
            if data is None:
                _sync(placed, os.O_RDONLY)
            else:
                data.result()
            folder = os.path.dirname(placed)
            _sync_folder(folder)
            while folder != self._root and folder not in self._named:
                _sync_folder(os.path.dirname(folder))
                self._mark(folder)
                folder = os.path.dirname(folder)
        except OSError as exc:
            log.error("C-STORE from %s not written: %s", peer, exc.strerror or exc)
            return False
        return True

    def close(self) -> None:
        """Let the flushing threads end (no instance arrives once the server is down); a
        later start gets fresh ones, made as they are needed."""
        early, self._early = self._early, ThreadPoolExecutor(self._workers, "dicom-flush")
        early.shutdown(wait=False)

    def _mark(self, folder: str) -> None:
        with self._lock:
            if len(self._named) >= self.CAPACITY:
                self._named.clear()
            self._named.add(folder)


def _sync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable (POSIX: fsync the directory)."""
    _sync(folder, os.O_RDONLY | os.O_DIRECTORY)


def _sync(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
