"""C-STORE: the header of one received instance to the device and the instance it proves.

Only the attributes indexed are read, each by keyword, so a dataset decoded lazily (as
pynetdicom and `dcmread` decode) never converts its Pixel Data (7FE0,0010).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from pydicom.dataset import Dataset

from mappers.dicom.datetimes import parse_da_tm
from mappers.dicom.dose_events import map_dose_report
from mappers.dicom.errors import IDENTIFIER_DOES_NOT_MATCH, DicomMappingError
from mappers.dicom.lengths import check_lengths
from mappers.dicom.uids import check_uid
from mappers.dicom.values import text
from mappers.events import DeviceSeen, Event, InstanceStored, PatientId

# The four UIDs that place an instance (PS3.3 C.7.2.1, C.7.3.1, C.12.1): without one, or with
# one that is not a UID, the data set does not match its SOP Class (PS3.4 B.2.3, status A900).
REQUIRED_UIDS = (
    ("StudyInstanceUID", "(0020,000D)"),
    ("SeriesInstanceUID", "(0020,000E)"),
    ("SOPInstanceUID", "(0008,0018)"),
    ("SOPClassUID", "(0008,0016)"),
)

# Every attribute map_instance reads, all at the top level of the data set: a reader may
# hand it a data set holding only these (listeners/dicom_header.py). A dose report's content
# tree is read as well, so such a reader leaves dose reports whole.
INDEXED_KEYWORDS = (
    *(keyword for keyword, _ in REQUIRED_UIDS),
    "Modality",
    "PatientID",
    "IssuerOfPatientID",
    "StationName",
    "Manufacturer",
    "ManufacturerModelName",
    "DeviceSerialNumber",
    "AccessionNumber",
    "BodyPartExamined",
    "StudyDate",
    "StudyTime",
    "TimezoneOffsetFromUTC",
    "StudyDescription",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
)


def map_instance(
    ds: Dataset,
    *,
    calling_ae: str,
    transfer_syntax: str,
    received_at: datetime,
    facility_tz: tzinfo,
    stored_path: str = "",
) -> list[Event]:
    """Map a stored instance's header to the device that sent it and the instance itself,
    and a CT dose report to the dose it reports.

    A StudyDate/StudyTime (or Timezone Offset From UTC) that cannot be read leaves the study
    start unknown rather than refusing the image: the instance matters more than that time.

    Raises:
        DicomMappingError: a Study, Series, SOP Instance or SOP Class UID is missing, empty
            or not a UID, or a value is longer than the store keeps (0xA900).
    """
    uids = read_uids(ds)
    modality = text(ds, "Modality")
    patient_id = text(ds, "PatientID")
    device = DeviceSeen(
        ae_title=calling_ae,
        seen_at=received_at,
        station_name=text(ds, "StationName"),
        modality=modality,
        manufacturer=text(ds, "Manufacturer"),
        model=text(ds, "ManufacturerModelName"),
        serial_number=text(ds, "DeviceSerialNumber"),
    )
    instance = InstanceStored(
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        transfer_syntax=transfer_syntax,
        accession=text(ds, "AccessionNumber"),
        patient=PatientId(patient_id, text(ds, "IssuerOfPatientID")) if patient_id else None,
        modality=modality,
        body_part=text(ds, "BodyPartExamined"),
        study_started_at=_study_start(ds, facility_tz),
        study_description=text(ds, "StudyDescription"),
        device_ae_title=calling_ae,
        received_at=received_at,
        stored_path=stored_path,
        patient_name=text(ds, "PatientName"),
        patient_birth_date=_birth_date(text(ds, "PatientBirthDate")),
        patient_sex=text(ds, "PatientSex").upper(),
    )
    events: list[Event] = [device, instance]
    check_lengths(events, IDENTIFIER_DOES_NOT_MATCH)
    # A CT dose report is an instance of its study like any other, and also the study's dose.
    events += map_dose_report(ds, calling_ae=calling_ae, received_at=received_at)
    return events


def read_uids(ds: Dataset) -> dict[str, str]:
    """The instance's Study, Series, SOP Instance and SOP Class UIDs, by keyword.

    Raises:
        DicomMappingError: one is missing, empty or not a UID (0xA900), naming it.
    """
    uids = {}
    for keyword, tag in REQUIRED_UIDS:
        value = text(ds, keyword)
        if not value:
            raise DicomMappingError(
                f"{keyword} is missing or empty", IDENTIFIER_DOES_NOT_MATCH, tag=f"{tag} {keyword}"
            )
        uids[keyword] = check_uid(value, keyword, tag, status=IDENTIFIER_DOES_NOT_MATCH)
    return uids


def _birth_date(value: str) -> date | None:
    """A DA value (YYYYMMDD, PS3.5 6.2) as a date; one that does not read is left unknown,
    as the birth date only serves the comparison with the order's patient."""
    try:
        return datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _study_start(ds: Dataset, facility_tz: tzinfo) -> datetime | None:
    """StudyDate + StudyTime in the dataset's offset (PS3.3 C.12.1.1.8) or facility time."""
    try:
        return parse_da_tm(
            text(ds, "StudyDate"),
            text(ds, "StudyTime"),
            facility_tz,
            text(ds, "TimezoneOffsetFromUTC"),
        )
    except DicomMappingError:
        return None
