"""What a worklist item answers (PS3.4 Table K.6-1, IHE RAD-5), and the start range a query names.

Shared by the answers (`worklist`, `worklist_encoding`) and the matching (`worklist_matching`),
so that an item is matched on exactly the values the modality is shown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from mappers.dicom.datetimes import (
    format_da,
    format_offset,
    format_tm,
    parse_date_range,
    parse_offset,
    parse_time_range,
)
from mappers.dicom.errors import CANNOT_UNDERSTAND, DicomMappingError
from mappers.dicom.worklist_model import WorklistItem

START_DATE = "(0040,0002) ScheduledProcedureStepStartDate"
START_TIME = "(0040,0003) ScheduledProcedureStepStartTime"


def priority_term(priority: str) -> str:
    """The Requested Procedure Priority (0040,1003) term for an HL7 priority code."""
    code = priority.strip().upper()
    if code in ("S", "STAT"):
        return "HIGH"
    if code in ("A", "ASAP"):
        return "MEDIUM"
    return "ROUTINE"


def item_values(item: WorklistItem, local_start: datetime) -> dict[str, object]:
    """The top-level attributes a worklist item answers (PS3.4 Table K.6-1, IHE RAD-5): text,
    or for a sequence a list of items, each a dict of text."""
    code = {
        "CodeValue": item.procedure_code,
        "CodingSchemeDesignator": item.procedure_system or "L",
        "CodeMeaning": item.procedure_text,
    }
    return {
        "PatientName": _person_name(item.patient_family, item.patient_given, item.patient_middle),
        "PatientID": item.patient_id,
        "IssuerOfPatientID": item.patient_authority,
        "PatientBirthDate": format_da(item.birth_date) if item.birth_date else "",
        "PatientSex": item.sex,
        "AccessionNumber": item.accession,
        "ReferringPhysicianName": _person_name(
            item.referring_physician_family, item.referring_physician_given
        ),
        "StudyInstanceUID": item.study_instance_uid,
        "RequestedProcedureID": item.requested_procedure_id,
        "RequestedProcedureDescription": item.procedure_text,
        "RequestedProcedureCodeSequence": [code] if item.procedure_code else [],
        "RequestedProcedurePriority": priority_term(item.priority),
        "ReasonForTheRequestedProcedure": item.reason,
        "TimezoneOffsetFromUTC": format_offset(local_start),
    }


def step_values(item: WorklistItem, local_start: datetime) -> dict[str, str]:
    """The Scheduled Procedure Step attributes a worklist item answers (PS3.4 Table K.6-1)."""
    values = {
        "ScheduledStationAETitle": item.scheduled_station,
        "ScheduledStationName": item.scheduled_station_name,
        "ScheduledProcedureStepStartDate": format_da(local_start),
        "ScheduledProcedureStepStartTime": format_tm(local_start.time()),
        "Modality": item.modality,
        "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": item.procedure_text,
        "ScheduledProcedureStepID": item.scheduled_step_id or item.requested_procedure_id,
        "ScheduledProcedureStepStatus": "SCHEDULED",
        "ScheduledProcedureStepEndDate": "",
        "ScheduledProcedureStepEndTime": "",
    }
    if item.scheduled_duration_minutes is not None:
        local_end = local_start + timedelta(minutes=item.scheduled_duration_minutes)
        values["ScheduledProcedureStepEndDate"] = format_da(local_end)
        values["ScheduledProcedureStepEndTime"] = format_tm(local_end.time())
    return values


def _person_name(family: str, given: str, middle: str = "") -> str:
    """A PN value FAMILY^GIVEN^MIDDLE, trailing empty components left out (PS3.5 6.2.1)."""
    return "^".join((family, given, middle)).rstrip("^")


def start_bounds(
    date_text: str, time_text: str, offset: str, facility_tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """The scheduled start range in UTC, inclusive at both ends; None where open.

    The date and time keys are one combined date-time range (PS3.4 C.2.2.2.5.4): the first
    time on the first date to the last time on the last date; no range without a date.

    Raises:
        DicomMappingError: a date, time or offset cannot be read, or the range ends before it
            starts (CANNOT_UNDERSTAND, naming the attribute).
    """
    if not date_text.strip(" \x00").strip("*"):
        return None, None
    zone = parse_offset(offset, status=CANNOT_UNDERSTAND) or facility_tz
    first_day, last_day = parse_date_range(date_text, tag=START_DATE, status=CANNOT_UNDERSTAND)
    first_time, last_time = (None, None)
    if time_text.strip(" \x00").strip("*"):
        first_time, last_time = parse_time_range(
            time_text, tag=START_TIME, status=CANNOT_UNDERSTAND, ordered=False
        )
    start = _instant(first_day, first_time or time.min, zone)
    end = _instant(last_day, last_time or time.max, zone)
    if start is not None and end is not None and start > end:
        tag = START_TIME if first_day == last_day else START_DATE
        raise DicomMappingError("the start range ends before it begins", CANNOT_UNDERSTAND, tag=tag)
    return start, end


def _instant(day: date | None, moment: time, zone: tzinfo) -> datetime | None:
    return None if day is None else datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)
