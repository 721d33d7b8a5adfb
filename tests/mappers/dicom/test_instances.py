"""A C-STORE header maps to the device that sent it and the instance, attribute by attribute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from fixtures.dicom import ct_instance, uid_for
from mappers.dicom.errors import IDENTIFIER_DOES_NOT_MATCH, DicomMappingError
from mappers.dicom.instances import map_instance
from mappers.events import DeviceSeen, InstanceStored, PatientId

# Some headers here hold invalid values on purpose; pydicom warns as they are set.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

BERLIN = ZoneInfo("Europe/Berlin")
RECEIVED = datetime(2026, 3, 2, 8, 40, 1, tzinfo=UTC)
PIXEL_DATA = Tag(0x7FE0, 0x0010)
STUDY_UID = uid_for("ACC0001", "study")
SERIES_UID = uid_for(STUDY_UID, "series", "1")
SOP_UID = uid_for(SERIES_UID, "instance", "1")


def _map(ds: Dataset, **overrides: Any) -> list:
    arguments: dict[str, Any] = {
        "calling_ae": "CT01",
        "transfer_syntax": ExplicitVRLittleEndian,
        "received_at": RECEIVED,
        "facility_tz": BERLIN,
        **overrides,
    }
    return map_instance(ds, **arguments)


def _device(**changes: Any) -> DeviceSeen:
    fields: dict[str, Any] = {
        "ae_title": "CT01",
        "seen_at": RECEIVED,
        "station_name": "CT-ROOM-1",
        "modality": "CT",
        "manufacturer": "ACME Medical",
        "model": "Tomograph 64",
        "serial_number": "SN-4711",
        **changes,
    }
    return DeviceSeen(**fields)


def _instance(**changes: Any) -> InstanceStored:
    fields: dict[str, Any] = {
        "study_instance_uid": STUDY_UID,
        "series_instance_uid": SERIES_UID,
        "sop_instance_uid": SOP_UID,
        "sop_class_uid": CTImageStorage,
        "transfer_syntax": ExplicitVRLittleEndian,
        "accession": "ACC0001",
        "patient": PatientId("MRN0001", "GENERAL_HOSP"),
        "modality": "CT",
        "body_part": "CHEST",
        # 09:31:12 in Berlin (CET, +0100) on 2 March 2026.
        "study_started_at": datetime(2026, 3, 2, 8, 31, 12, tzinfo=UTC),
        "study_description": "CT CHEST W/O CONTRAST",
        "device_ae_title": "CT01",
        "received_at": RECEIVED,
        "stored_path": "",
        "patient_name": "DOE^JANE",
        "patient_birth_date": date(1980, 1, 1),
        "patient_sex": "F",
        **changes,
    }
    return InstanceStored(**fields)


def test_ct_instance_maps_every_field() -> None:
    """The fixture's CT header maps to the device and the instance, every field as sent."""
    assert _map(ct_instance()) == [_device(), _instance()]


def test_stored_path_and_transfer_syntax_are_passed_through() -> None:
    """Where the file was written and the negotiated transfer syntax come from the caller."""
    events = _map(ct_instance(), transfer_syntax="1.2.840.10008.1.2", stored_path="/d/1.dcm")
    assert events[1] == _instance(transfer_syntax="1.2.840.10008.1.2", stored_path="/d/1.dcm")


def _set(keyword: str, value: Any) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, keyword, value)


def _drop(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


# (how the header differs from the fixture's, how the device differs, how the instance differs)
VARIANTS: dict[str, tuple[Callable[[Dataset], None], dict[str, Any], dict[str, Any]]] = {
    "no patient id": (_set("PatientID", ""), {}, {"patient": None}),
    "patient id absent": (_drop("PatientID"), {}, {"patient": None}),
    "no issuer": (_drop("IssuerOfPatientID"), {}, {"patient": PatientId("MRN0001", "")}),
    "padded values": (
        lambda ds: (
            setattr(ds, "Modality", " CT "),
            setattr(ds, "StationName", "CT-ROOM-1  "),
            setattr(ds, "AccessionNumber", "ACC0001 "),
            setattr(ds, "SOPInstanceUID", SOP_UID + "\x00"),
        ),
        {},
        {},
    ),
    "offset from UTC": (
        _set("TimezoneOffsetFromUTC", "-0500"),
        {},
        {"study_started_at": datetime(2026, 3, 2, 14, 31, 12, tzinfo=UTC)},
    ),
    "no study time": (
        _drop("StudyTime"),
        {},
        {"study_started_at": datetime(2026, 3, 1, 23, 0, tzinfo=UTC)},
    ),
    "no study date": (_drop("StudyDate"), {}, {"study_started_at": None}),
    "malformed study date": (_set("StudyDate", "2026-03-02"), {}, {"study_started_at": None}),
    "malformed study time": (_set("StudyTime", "9:31"), {}, {"study_started_at": None}),
    "malformed offset": (_set("TimezoneOffsetFromUTC", "CET"), {}, {"study_started_at": None}),
    "no device details": (
        lambda ds: [
            delattr(ds, k)
            for k in ("StationName", "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber")
        ],
        {"station_name": "", "manufacturer": "", "model": "", "serial_number": ""},
        {},
    ),
    "no accession, body part, description": (
        lambda ds: [
            delattr(ds, k) for k in ("AccessionNumber", "BodyPartExamined", "StudyDescription")
        ],
        {},
        {"accession": "", "body_part": "", "study_description": ""},
    ),
    "no modality": (_drop("Modality"), {"modality": ""}, {"modality": ""}),
    "two modality values": (_set("Modality", ["CT", "PT"]), {}, {}),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_header_variants(name: str) -> None:
    """Each variation of the header changes exactly the fields it should."""
    change, device, instance = VARIANTS[name]
    ds = ct_instance()
    change(ds)
    assert _map(ds) == [_device(**device), _instance(**instance)]


def test_aware_study_start_is_written_with_its_offset() -> None:
    """A fixture built from an aware start carries its offset, and maps back to the same UTC."""
    start = datetime(2026, 3, 2, 9, 31, 12, tzinfo=timezone(timedelta(hours=-5)))
    ds = ct_instance(study_start=start)
    assert ds.TimezoneOffsetFromUTC == "-0500"
    assert _map(ds)[1].study_started_at == start.astimezone(UTC)


REQUIRED = [
    ("StudyInstanceUID", "(0020,000D) StudyInstanceUID"),
    ("SeriesInstanceUID", "(0020,000E) SeriesInstanceUID"),
    ("SOPInstanceUID", "(0008,0018) SOPInstanceUID"),
    ("SOPClassUID", "(0008,0016) SOPClassUID"),
]


@pytest.mark.parametrize(("keyword", "tag"), REQUIRED)
@pytest.mark.parametrize("how", ["absent", "empty", "padding only"])
def test_missing_uid_is_refused(keyword: str, tag: str, how: str) -> None:
    """A missing or empty identifying UID is 0xA900, naming the attribute by tag and keyword."""
    ds = ct_instance()
    if how == "absent":
        delattr(ds, keyword)
    else:
        setattr(ds, keyword, "" if how == "empty" else " \x00")
    with pytest.raises(DicomMappingError) as caught:
        _map(ds)
    assert caught.value.status == IDENTIFIER_DOES_NOT_MATCH == 0xA900
    assert caught.value.tag == tag
    assert keyword in caught.value.reason


@pytest.mark.parametrize(("keyword", "tag"), REQUIRED)
def test_error_tags_agree_with_the_dictionary(keyword: str, tag: str) -> None:
    """Each tag an error names is the one the DICOM dictionary gives its keyword."""
    number = tag_for_keyword(keyword)
    assert number is not None
    assert tag == f"({number >> 16:04X},{number & 0xFFFF:04X}) {keyword}"


class PixelGuard(Dataset):
    """A dataset whose Pixel Data fails the moment anything reads it."""

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, slice) and Tag(key) == PIXEL_DATA:
            raise AssertionError("Pixel Data was read")
        return super().__getitem__(key)


def _guarded() -> Dataset:
    ds = PixelGuard(ct_instance(with_pixels=True))
    with pytest.raises(AssertionError):
        _ = ds.PixelData
    return ds


def _undecodable() -> Dataset:
    ds = ct_instance()
    # Pixel Data that cannot be converted: 3 bytes under a 2-byte VR.
    ds[PIXEL_DATA] = RawDataElement(BaseTag(PIXEL_DATA), "US", 3, b"abc", 0, False, True)
    with pytest.raises(Exception, match="bytes"):
        _ = ds.PixelData
    return ds


@pytest.mark.parametrize("build", [_guarded, _undecodable], ids=["guarded", "undecodable"])
def test_pixel_data_is_never_read(build: Callable[[], Dataset]) -> None:
    """Mapping reads only header attributes: Pixel Data that fails on access is never touched."""
    assert _map(build()) == [_device(), _instance()]


def test_written_and_read_file_maps_the_same() -> None:
    """The fixture writes as a DICOM file that reads back (without pixels) to the same events."""
    buffer = BytesIO()
    dcmwrite(buffer, ct_instance(with_pixels=True), enforce_file_format=True)
    buffer.seek(0)
    read = dcmread(buffer, stop_before_pixels=True)
    assert read.file_meta.MediaStorageSOPInstanceUID == SOP_UID
    assert "PixelData" not in read
    assert _map(read) == [_device(), _instance()]
