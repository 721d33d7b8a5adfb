"""Instance Availability Notifications mapped to the instances they make available, and bad
ones refused with the PS3.7 status that names the attribute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydicom.dataset import Dataset

from fixtures.dicom import availability_notification
from mappers.dicom.availability import map_availability
from mappers.dicom.errors import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    DicomMappingError,
)
from mappers.events import InstanceStored, PatientId

# Some values here are invalid for their VR on purpose; pydicom warns as they are set.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STUDY = "1.2.826.0.1.3680043.8.498.1"


def _ian(**keys: str) -> Dataset:
    return availability_notification(
        STUDY,
        {
            "1.2.3.1": [("1.2.3.1.1", "ONLINE"), ("1.2.3.1.2", "NEARLINE")],
            "1.2.3.2": [("1.2.3.2.1", "OFFLINE")],
        },
        performed_step="1.2.9.9",
        **keys,
    )


def _map(ds: Dataset) -> list:
    return map_availability(ds, calling_ae="PACS", received_at=AT)


def test_available_instances_are_indexed_without_a_device() -> None:
    """ONLINE and NEARLINE instances become InstanceStored (no pixels, no device); OFFLINE not."""
    events = _map(_ian(AccessionNumber="ACC1", PatientID="MRN1", IssuerOfPatientID="H"))
    assert [type(e) for e in events] == [InstanceStored, InstanceStored]
    first = events[0]
    assert (first.study_instance_uid, first.series_instance_uid) == (STUDY, "1.2.3.1")
    assert [e.sop_instance_uid for e in events] == ["1.2.3.1.1", "1.2.3.1.2"]
    assert first.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert (first.accession, first.patient) == ("ACC1", PatientId("MRN1", "H"))
    assert (first.device_ae_title, first.stored_path, first.transfer_syntax) == ("", "", "")
    assert (first.performed_step_uid, first.received_at) == ("1.2.9.9", AT)


def test_nothing_available_maps_to_nothing() -> None:
    """A notification of UNAVAILABLE instances only makes nothing available."""
    ds = availability_notification(STUDY, {"1.2.3.1": [("1.2.3.1.1", "UNAVAILABLE")]})
    assert _map(ds) == []


def _drop(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _set(keyword: str, value: object) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, keyword, value)


def _in_sop(change: Callable[[Dataset], None]) -> Callable[[Dataset], None]:
    return lambda ds: change(ds.ReferencedSeriesSequence[0].ReferencedSOPSequence[0])


def _in_series(change: Callable[[Dataset], None]) -> Callable[[Dataset], None]:
    return lambda ds: change(ds.ReferencedSeriesSequence[0])


REFUSED: dict[str, tuple[Callable[[Dataset], None], int, str]] = {
    "no study": (_drop("StudyInstanceUID"), MISSING_ATTRIBUTE, "StudyInstanceUID"),
    "empty study": (_set("StudyInstanceUID", ""), MISSING_ATTRIBUTE_VALUE, "StudyInstanceUID"),
    "study not a UID": (
        _set("StudyInstanceUID", "1.2.x"),
        INVALID_ATTRIBUTE_VALUE,
        "StudyInstanceUID",
    ),
    "no series": (_drop("ReferencedSeriesSequence"), MISSING_ATTRIBUTE, "ReferencedSeriesSequence"),
    "series without items": (
        _set("ReferencedSeriesSequence", []),
        MISSING_ATTRIBUTE_VALUE,
        "ReferencedSeriesSequence",
    ),
    "no series UID": (
        _in_series(_drop("SeriesInstanceUID")),
        MISSING_ATTRIBUTE,
        "SeriesInstanceUID",
    ),
    "no instances": (
        _in_series(_drop("ReferencedSOPSequence")),
        MISSING_ATTRIBUTE,
        "ReferencedSOPSequence",
    ),
    "no SOP class": (
        _in_sop(_drop("ReferencedSOPClassUID")),
        MISSING_ATTRIBUTE,
        "ReferencedSOPClassUID",
    ),
    "SOP instance too long": (
        _in_sop(_set("ReferencedSOPInstanceUID", "1." * 40)),
        INVALID_ATTRIBUTE_VALUE,
        "ReferencedSOPInstanceUID",
    ),
    "no availability": (
        _in_sop(_drop("InstanceAvailability")),
        MISSING_ATTRIBUTE,
        "InstanceAvailability",
    ),
    "empty availability": (
        _in_sop(_set("InstanceAvailability", "")),
        MISSING_ATTRIBUTE_VALUE,
        "InstanceAvailability",
    ),
    "unknown availability": (
        _in_sop(_set("InstanceAvailability", "SOMEWHERE")),
        INVALID_ATTRIBUTE_VALUE,
        "InstanceAvailability",
    ),
    "accession too long": (
        _set("AccessionNumber", "A" * 65),
        INVALID_ATTRIBUTE_VALUE,
        "AccessionNumber",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_notifications_are_refused_naming_the_attribute(name: str) -> None:
    """Each malformed notification raises the status PS3.7 10.1.5 gives it, naming the key."""
    change, status, keyword = REFUSED[name]
    ds = _ian()
    change(ds)
    with pytest.raises(DicomMappingError) as caught:
        _map(ds)
    assert caught.value.status == status
    assert keyword in caught.value.tag
