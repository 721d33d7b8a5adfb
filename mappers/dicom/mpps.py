"""MPPS N-CREATE and N-SET (PS3.4 Annex F) to procedure step events, device and dose.

Attributes follow PS3.3 C.4.13 (Performed Procedure Step Relationship), C.4.14 (Performed
Procedure Step Information) and C.4.16 (Radiation Dose); their N-CREATE/N-SET types follow
PS3.4 Table F.7.2-1.

Dose, as (name, value) pairs in this order, each only when the dataset holds a number for it:

- `total_time_of_fluoroscopy`: Total Time of Fluoroscopy (0040,0300), seconds.
- `entrance_dose_mgy`: Entrance Dose in mGy (0040,8302); else Entrance Dose (0040,0302),
  which is in dGy, times 100.
- `dose_area_product`: Image and Fluoroscopy Area Dose Product (0018,115E), dGy*cm2.
- `ctdi_vol`: CTDIvol (0018,9345), mGy: the highest of the top-level value and those of the
  Exposure Dose Sequence (0040,030E) items, one item per CT acquisition. The highest, not a sum:
  CTDIvol describes one acquisition and adds up to nothing meaningful.
- `dlp`: DICOM defines no DLP attribute for MPPS (the Radiation Dose module has none; DLP is a
  Radiation Dose SR concept, TID 10011/10012, and DLP Notification Trigger (0018,9943) is a dose
  check threshold, not a dose). Philips CT sends it privately: private creator "ELSCINT1",
  element (00E1,xx21), DS, mGy*cm, as the exam total at the top level and per acquisition in
  the Exposure Dose Sequence items beside their CTDIvol. The top-level total is taken when
  present, else the sum of the items'. Private elements are found through their creator
  (PS3.5 7.8.1), never by a fixed tag. Free-text dose comments (0040,0310) are not parsed.

Values that are not numbers (empty, text, NaN, undecodable) are skipped, never errors.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo

from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException
from pydicom.multival import MultiValue

from mappers.dicom.datetimes import parse_da_tm
from mappers.dicom.errors import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    DicomMappingError,
)
from mappers.dicom.lengths import check_lengths
from mappers.dicom.values import text
from mappers.events import (
    DeviceSeen,
    Dose,
    Event,
    PatientId,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ScheduledStep,
    StepStatus,
)

STATUS = "(0040,0252) PerformedProcedureStepStatus"
START_DATE = "(0040,0244) PerformedProcedureStepStartDate"
START_TIME = "(0040,0245) PerformedProcedureStepStartTime"
END_DATE = "(0040,0250) PerformedProcedureStepEndDate"
END_TIME = "(0040,0251) PerformedProcedureStepEndTime"
STEP_ID = "(0040,0253) PerformedProcedureStepID"
MODALITY = "(0008,0060) Modality"
SCHEDULED_STEPS = "(0040,0270) ScheduledStepAttributesSequence"

# Philips CT's private block holding DLP (see the module docstring).
_PHILIPS_GROUP, _PHILIPS_CREATOR, _PHILIPS_DLP = 0x00E1, "ELSCINT1", 0x21
_FINAL = (StepStatus.COMPLETED, StepStatus.DISCONTINUED)


def map_n_create(
    ds: Dataset,
    *,
    sop_instance_uid: str,
    calling_ae: str,
    received_at: datetime,
    facility_tz: tzinfo,
) -> list[Event]:
    """Map an MPPS N-CREATE attribute list to the device seen and the step it starts.

    The station is Performed Station AE Title (0040,0241), else the calling AE title.

    Raises:
        DicomMappingError: a type 1 attribute is absent (MISSING_ATTRIBUTE, 0x0120) or empty
            (MISSING_ATTRIBUTE_VALUE, 0x0121); the status is not IN PROGRESS (F.7.2.1.1), or a
            date, time or offset is malformed (INVALID_ATTRIBUTE_VALUE, 0x0106).
    """
    status = _status(_required(ds, "PerformedProcedureStepStatus", STATUS))
    if status is not StepStatus.IN_PROGRESS:
        raise DicomMappingError(
            f"an N-CREATE must have status IN PROGRESS, not {status.value}",
            INVALID_ATTRIBUTE_VALUE,
            tag=STATUS,
        )
    start_date = _required(ds, "PerformedProcedureStepStartDate", START_DATE)
    start_time = _required(ds, "PerformedProcedureStepStartTime", START_TIME)
    _required(ds, "PerformedProcedureStepID", STEP_ID)
    modality = _required(ds, "Modality", MODALITY)
    if "ScheduledStepAttributesSequence" not in ds:
        raise DicomMappingError(
            "ScheduledStepAttributesSequence is missing", MISSING_ATTRIBUTE, tag=SCHEDULED_STEPS
        )
    items = ds.ScheduledStepAttributesSequence or []
    if not items:
        raise DicomMappingError(
            "ScheduledStepAttributesSequence has no item",
            MISSING_ATTRIBUTE_VALUE,
            tag=SCHEDULED_STEPS,
        )
    offset = text(ds, "TimezoneOffsetFromUTC")
    started_at = parse_da_tm(
        start_date, start_time, facility_tz, offset, date_tag=START_DATE, time_tag=START_TIME
    )
    station = text(ds, "PerformedStationAETitle") or calling_ae
    patient_id = text(ds, "PatientID")
    device = DeviceSeen(
        ae_title=station,
        seen_at=received_at,
        station_name=text(ds, "PerformedStationName"),
        modality=modality,
    )
    created = ProcedureStepCreated(
        sop_instance_uid=sop_instance_uid,
        status=status,
        steps=tuple(_scheduled_step(item) for item in items),
        patient=PatientId(patient_id, text(ds, "IssuerOfPatientID")) if patient_id else None,
        station_ae_title=station,
        modality=modality,
        started_at=started_at,
        ended_at=_ended_at(ds, facility_tz, offset),
        dose=read_dose(ds),
        received_at=received_at,
    )
    check_lengths([device, created], INVALID_ATTRIBUTE_VALUE)
    return [device, created]


def map_n_set(
    ds: Dataset,
    *,
    sop_instance_uid: str,
    received_at: datetime,
    facility_tz: tzinfo,
) -> list[Event]:
    """Map an MPPS N-SET modification list to the step's new status, end and dose.

    A pure function cannot know an end sent earlier, so a COMPLETED or DISCONTINUED N-SET must
    carry End Date and End Time itself (PS3.4 F.7.2.2: they must be valued by then).

    Raises:
        DicomMappingError: the status is empty, or final without an end
            (MISSING_ATTRIBUTE_VALUE, 0x0121); the status is no defined term, or a date, time
            or offset is malformed (INVALID_ATTRIBUTE_VALUE, 0x0106).
    """
    status = None
    if "PerformedProcedureStepStatus" in ds:
        status = _status(_required(ds, "PerformedProcedureStepStatus", STATUS))
    if status in _FINAL:
        for keyword, tag in (
            ("PerformedProcedureStepEndDate", END_DATE),
            ("PerformedProcedureStepEndTime", END_TIME),
        ):
            if not text(ds, keyword):
                raise DicomMappingError(
                    f"{keyword} must be valued when the status becomes {status}",
                    MISSING_ATTRIBUTE_VALUE,
                    tag=tag,
                )
    updated = ProcedureStepUpdated(
        sop_instance_uid=sop_instance_uid,
        status=status,
        ended_at=_ended_at(ds, facility_tz, text(ds, "TimezoneOffsetFromUTC")),
        dose=read_dose(ds),
        received_at=received_at,
    )
    check_lengths([updated], INVALID_ATTRIBUTE_VALUE)
    return [updated]


def read_dose(ds: Dataset) -> Dose:
    """The dose attributes the dataset holds, as the module docstring lists them."""
    items = _items(ds, "ExposureDoseSequence")
    entrance = _number(ds, "EntranceDoseInmGy")
    if entrance is None:
        decigray = _number(ds, "EntranceDose")
        entrance = None if decigray is None else decigray * 100
    ctdi = [n for n in (_number(d, "CTDIvol") for d in (ds, *items)) if n is not None]
    dlp = _philips_dlp(ds)
    if dlp is None:
        per_item = [n for n in map(_philips_dlp, items) if n is not None]
        dlp = math.fsum(per_item) if per_item else None
    pairs = (
        ("total_time_of_fluoroscopy", _number(ds, "TotalTimeOfFluoroscopy")),
        ("entrance_dose_mgy", entrance),
        ("dose_area_product", _number(ds, "ImageAndFluoroscopyAreaDoseProduct")),
        ("ctdi_vol", max(ctdi) if ctdi else None),
        ("dlp", dlp),
    )
    return tuple((name, value) for name, value in pairs if value is not None)


def _scheduled_step(item: Dataset) -> ScheduledStep:
    """One Scheduled Step Attribute Sequence item: the order the step performs (C.4.13)."""
    return ScheduledStep(
        accession=text(item, "AccessionNumber"),
        requested_procedure_id=text(item, "RequestedProcedureID"),
        study_instance_uid=text(item, "StudyInstanceUID"),
        scheduled_step_id=text(item, "ScheduledProcedureStepID"),
    )


def _ended_at(ds: Dataset, facility_tz: tzinfo, offset: str) -> datetime | None:
    """PPS End Date + End Time when the date is valued (type 2 on N-CREATE, 3 on N-SET)."""
    return parse_da_tm(
        text(ds, "PerformedProcedureStepEndDate"),
        text(ds, "PerformedProcedureStepEndTime"),
        facility_tz,
        offset,
        date_tag=END_DATE,
        time_tag=END_TIME,
    )


def _status(value: str) -> StepStatus:
    """PPS Status, one of the enumerated values of PS3.3 C.4.14."""
    try:
        return StepStatus(value)
    except ValueError:
        raise DicomMappingError(
            f"{value!r} is not IN PROGRESS, COMPLETED or DISCONTINUED",
            INVALID_ATTRIBUTE_VALUE,
            tag=STATUS,
        ) from None


def _required(ds: Dataset, keyword: str, tag: str) -> str:
    """A type 1 attribute's value: present (0x0120 if not) and valued (0x0121 if not)."""
    if keyword not in ds:
        raise DicomMappingError(f"{keyword} is missing", MISSING_ATTRIBUTE, tag=tag)
    value = text(ds, keyword)
    if not value:
        raise DicomMappingError(f"{keyword} is empty", MISSING_ATTRIBUTE_VALUE, tag=tag)
    return value


def _philips_dlp(ds: Dataset) -> float | None:
    """DLP in Philips' ELSCINT1 private block, where the dataset has one."""
    try:
        block = ds.private_block(_PHILIPS_GROUP, _PHILIPS_CREATOR)
        element = block[_PHILIPS_DLP]
    except KeyError:
        return None
    return _as_number(element.value)


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    """A sequence's items; none when it is absent, empty or not a sequence."""
    value = ds.get(keyword)
    return [item for item in value if isinstance(item, Dataset)] if value else []


def _number(ds: Dataset, keyword: str) -> float | None:
    """An attribute's value as a finite number; None if absent or not a number."""
    try:
        value = ds.get(keyword)
    except (ValueError, TypeError, BytesLengthException):
        return None  # a value pydicom cannot decode for its VR
    return _as_number(value)


def _as_number(value: object) -> float | None:
    if isinstance(value, MultiValue | list):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")  # DS/IS read without a dictionary VR (UN)
    if isinstance(value, str):
        value = value.strip(" \x00")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
