"""The one-pass header reader reads what pydicom reads, or leaves the file to pydicom.

Every comparison is with the reading it stands in for: pydicom's `dcmread` up to the pixel
data, mapped by the same mapper, and logged as `listeners/dicom_files.py` logs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

import listeners.dicom_files as files
from listeners.dicom_bulk import BULK_LIMIT
from listeners.dicom_header import read_header
from mappers.dicom.instances import INDEXED_KEYWORDS, map_instance
from mappers.dicom.values import text

# pydicom warns of the values these tests write or damage on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

RECEIVED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TZ = ZoneInfo("Europe/Berlin")


def _by_pydicom(path: Path) -> tuple[Dataset, bytes]:
    """What read_instance gives without the shortcut."""
    real = files.read_header
    files.read_header = lambda *_: None  # type: ignore[assignment]
    try:
        return files.read_instance(path)
    finally:
        files.read_header = real


def _events(dataset: Dataset) -> list:
    return map_instance(
        dataset,
        calling_ae="CT1",
        transfer_syntax="1.2.840.10008.1.2.1",
        received_at=RECEIVED,
        facility_tz=TZ,
        stored_path="/kept",
    )


def _assert_read_alike(path: Path) -> None:
    fast = read_header(path, files.INDEXED_TAGS)
    assert fast is not None, "the shortcut should take this file"
    slow = _by_pydicom(path)
    assert fast[1] == slow[1]
    for keyword in INDEXED_KEYWORDS:
        assert text(fast[0], keyword) == text(slow[0], keyword), keyword
    assert _events(fast[0]) == _events(slow[0])
    assert fast[0].file_meta.TransferSyntaxUID == slow[0].file_meta.TransferSyntaxUID


def _ct() -> Dataset:
    return dcmread(get_testdata_file("CT_small.dcm"))


def _saved(dataset: Dataset, path: Path) -> Path:
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm"])
def test_pydicoms_own_files_read_alike(name: str) -> None:
    _assert_read_alike(Path(get_testdata_file(name)))


def test_an_implicit_vr_file_reads_alike(tmp_path: Path) -> None:
    dataset = _ct()
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    _assert_read_alike(_saved(dataset, tmp_path / "implicit.dcm"))


@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_of_undefined_length_are_followed(tmp_path: Path, implicit: bool) -> None:
    """Nested items of undefined length, as most modalities write them, then the indexed
    elements after them: still found, and the log still ends at the pixel data."""
    dataset = _ct()
    inner = Dataset()
    inner.CodeValue = "113691"
    inner.CodingSchemeDesignator = "DCM"
    item = Dataset()
    item.ConceptNameCodeSequence = Sequence([inner])
    dataset.ReferencedImageSequence = Sequence([item, Dataset()])
    dataset.ProcedureCodeSequence = Sequence([inner])
    if implicit:
        dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    for element in dataset.iterall():
        if element.VR == "SQ":
            element.is_undefined_length = True
    for sequence in ("ReferencedImageSequence", "ProcedureCodeSequence"):
        for entry in dataset[sequence].value:
            entry.is_undefined_length_sequence_item = True
    _assert_read_alike(_saved(dataset, tmp_path / "undefined.dcm"))


@pytest.mark.parametrize("name", ["ExplVR_BigEnd.dcm", "image_dfl.dcm"])
def test_big_endian_and_deflated_data_sets_are_left_to_pydicom(name: str) -> None:
    path = Path(get_testdata_file(name))
    assert read_header(path, files.INDEXED_TAGS) is None
    assert files.read_instance(path)[1] == _by_pydicom(path)[1]


def test_a_dose_report_is_left_to_pydicom(tmp_path: Path) -> None:
    """Its mapper reads the content tree, which the shortcut does not keep."""
    dataset = _ct()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.67"  # X-Ray Radiation Dose SR
    assert read_header(_saved(dataset, tmp_path / "sr.dcm"), files.INDEXED_TAGS) is None


def test_bulk_before_the_pixel_data_is_left_to_pydicom(tmp_path: Path) -> None:
    """The log leaves bulk data out, so such a data set is re-encoded by pydicom."""
    dataset = _ct()
    dataset.add_new(0x00091010, "OB", b"\x01" * (BULK_LIMIT + 2))
    assert read_header(_saved(dataset, tmp_path / "bulk.dcm"), files.INDEXED_TAGS) is None


def test_pixel_data_inside_a_sequence_is_left_to_pydicom(tmp_path: Path) -> None:
    """An icon image holds Pixel Data, which the log leaves out wherever it is."""
    dataset = _ct()
    icon = Dataset()
    icon.Rows = icon.Columns = 2
    icon.add_new(0x7FE00010, "OB", b"\x00" * 4)
    dataset.IconImageSequence = Sequence([icon])
    assert read_header(_saved(dataset, tmp_path / "icon.dcm"), files.INDEXED_TAGS) is None


def test_an_empty_or_foreign_file_is_left_to_pydicom(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"MSH|^~\\&|" * 40)
    assert read_header(empty, files.INDEXED_TAGS) is None
    assert read_header(foreign, files.INDEXED_TAGS) is None


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=20
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    patient=names,
    description=names,
    accession=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16),
    charset=st.sampled_from([None, "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 13", "ISO_IR 13"]),
)
def test_text_values_read_alike_in_any_character_set(
    tmp_path: Path, patient: str, description: str, accession: str, charset: str | None
) -> None:
    """ASCII, the value delimiter, tildes, and text beyond ASCII in the character sets a
    modality declares: the shortcut's text is pydicom's wherever pydicom can encode it."""
    dataset = _ct()
    if charset is not None:
        dataset.SpecificCharacterSet = charset
    else:
        del dataset.SpecificCharacterSet
    dataset.PatientName = patient
    dataset.StudyDescription = description
    dataset.AccessionNumber = accession
    path = tmp_path / "text.dcm"
    try:
        _saved(dataset, path)
    except (UnicodeError, ValueError, LookupError):
        return  # pydicom cannot write these values in that character set
    fast = read_header(path, files.INDEXED_TAGS)
    if fast is None:
        return
    slow = _by_pydicom(path)
    assert [text(fast[0], k) for k in INDEXED_KEYWORDS] == [
        text(slow[0], k) for k in INDEXED_KEYWORDS
    ]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_files_never_break_the_reader(tmp_path_factory, data: st.DataObject) -> None:
    """Bytes flipped, cut or inserted anywhere: the shortcut answers None or what pydicom
    reads, and never raises."""
    original = Path(get_testdata_file("CT_small.dcm")).read_bytes()[:8192]
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        match data.draw(st.sampled_from(["flip", "cut", "insert"])):
            case "flip":
                damaged[at] = data.draw(st.integers(0, 255))
            case "cut":
                del damaged[at : at + data.draw(st.integers(1, 64))]
            case "insert":
                damaged[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    path = tmp_path_factory.mktemp("damaged") / "damaged.dcm"
    path.write_bytes(bytes(damaged))
    fast = read_header(path, files.INDEXED_TAGS)
    if fast is None:
        return
    try:
        slow = _by_pydicom(path)
        expected = [text(slow[0], k) for k in INDEXED_KEYWORDS]
    except Exception:  # pydicom refuses it
        pytest.fail("the shortcut took a file pydicom cannot read")
    assert fast[1] == slow[1]
    assert [text(fast[0], k) for k in INDEXED_KEYWORDS] == expected
