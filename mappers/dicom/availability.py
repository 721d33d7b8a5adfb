"""Instance Availability Notification N-CREATE (PS3.4 Annex R; IHE RAD-49): a PACS says which
instances of a study it holds, and how readily.

Each instance the notification names as ONLINE or NEARLINE is indexed (study, series,
instance; no pixels), as a C-STORE of it would be, so that the study's first one sets the
order's `images_available`. OFFLINE and UNAVAILABLE instances are not available: they are
checked and not indexed. The study finds its order by Accession Number (when the PACS sends
it), else Study Instance UID, else the Performed Procedure Step the notification references.

The attributes read (PS3.3 C.4.23, the Instance Availability Notification Module):

    Study Instance UID                           (0020,000D) 1
    Referenced Performed Procedure Step Sequence (0008,1111) 2  > Referenced SOP Instance UID
    Referenced Series Sequence                   (0008,1115) 1
      > Series Instance UID                      (0020,000E) 1
      > Referenced SOP Sequence                  (0008,1199) 1
        >> Referenced SOP Class UID              (0008,1150) 1
        >> Referenced SOP Instance UID           (0008,1155) 1
        >> Instance Availability                 (0008,0056) 1
    Accession Number, Patient ID, Issuer of Patient ID, when sent (IHE RAD TF-2 4.49)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydicom.dataset import Dataset

from mappers.dicom.errors import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    DicomMappingError,
)
from mappers.dicom.lengths import check_lengths
from mappers.dicom.uids import check_uid
from mappers.dicom.values import text
from mappers.events import Event, InstanceStored, PatientId

AVAILABLE = frozenset({"ONLINE", "NEARLINE"})
AVAILABILITIES = AVAILABLE | {"OFFLINE", "UNAVAILABLE"}  # PS3.3 C.4.23.1.1

_TAGS = {
    "StudyInstanceUID": "(0020,000D)",
    "ReferencedSeriesSequence": "(0008,1115)",
    "SeriesInstanceUID": "(0020,000E)",
    "ReferencedSOPSequence": "(0008,1199)",
    "ReferencedSOPClassUID": "(0008,1150)",
    "ReferencedSOPInstanceUID": "(0008,1155)",
    "InstanceAvailability": "(0008,0056)",
}


def map_availability(ds: Dataset, *, calling_ae: str, received_at: datetime) -> list[Event]:
    """The instances an IAN names as available, each indexed as an InstanceStored.

    The sender (a PACS) is not the device that made the images, so no device is learned.

    Raises:
        DicomMappingError: a Type 1 attribute is absent (0x0120) or empty (0x0121); a UID is
            not a UID, an Instance Availability is not a defined term, or a value is longer
            than kept (0x0106). Each names the attribute.
    """
    study_uid = _uid(ds, "StudyInstanceUID")
    accession = text(ds, "AccessionNumber")
    patient_id = text(ds, "PatientID")
    patient = PatientId(patient_id, text(ds, "IssuerOfPatientID")) if patient_id else None
    step_uid = _performed_step(ds)
    events: list[Event] = []
    for series in _items(ds, "ReferencedSeriesSequence"):
        series_uid = _uid(series, "SeriesInstanceUID")
        for instance in _items(series, "ReferencedSOPSequence"):
            sop_class = _uid(instance, "ReferencedSOPClassUID")
            sop_instance = _uid(instance, "ReferencedSOPInstanceUID")
            if _availability(instance) not in AVAILABLE:
                continue
            events.append(
                InstanceStored(
                    study_instance_uid=study_uid,
                    series_instance_uid=series_uid,
                    sop_instance_uid=sop_instance,
                    sop_class_uid=sop_class,
                    transfer_syntax="",
                    accession=accession,
                    patient=patient,
                    modality="",
                    body_part="",
                    study_started_at=None,
                    study_description="",
                    device_ae_title="",
                    received_at=received_at,
                    performed_step_uid=step_uid,
                )
            )
    check_lengths(events, INVALID_ATTRIBUTE_VALUE)
    return events


def _present(ds: Dataset, keyword: str) -> object:
    if keyword not in ds:
        raise DicomMappingError(
            f"{keyword} is missing", MISSING_ATTRIBUTE, tag=f"{_TAGS[keyword]} {keyword}"
        )
    return ds[keyword].value


def _uid(ds: Dataset, keyword: str) -> str:
    _present(ds, keyword)
    value = text(ds, keyword)
    if not value:
        raise DicomMappingError(
            f"{keyword} is empty", MISSING_ATTRIBUTE_VALUE, tag=f"{_TAGS[keyword]} {keyword}"
        )
    return check_uid(value, keyword, _TAGS[keyword])


def _items(ds: Dataset, keyword: str) -> Sequence[Dataset]:
    items = _present(ds, keyword) or []
    if not items:
        raise DicomMappingError(
            f"{keyword} has no item", MISSING_ATTRIBUTE_VALUE, tag=f"{_TAGS[keyword]} {keyword}"
        )
    return items  # type: ignore[return-value]


def _availability(instance: Dataset) -> str:
    _present(instance, "InstanceAvailability")
    value = text(instance, "InstanceAvailability").upper()
    tag = f"{_TAGS['InstanceAvailability']} InstanceAvailability"
    if not value:
        raise DicomMappingError("InstanceAvailability is empty", MISSING_ATTRIBUTE_VALUE, tag=tag)
    if value not in AVAILABILITIES:
        raise DicomMappingError(
            f"InstanceAvailability {value!r} is not ONLINE, NEARLINE, OFFLINE or UNAVAILABLE",
            INVALID_ATTRIBUTE_VALUE,
            tag=tag,
        )
    return value


def _performed_step(ds: Dataset) -> str:
    """The MPPS the notification follows (Type 2: may be empty); "" when none."""
    for item in ds.get("ReferencedPerformedProcedureStepSequence") or []:
        uid = text(item, "ReferencedSOPInstanceUID")
        if uid:
            return check_uid(uid, "ReferencedSOPInstanceUID", "(0008,1111)>(0008,1155)")
    return ""
