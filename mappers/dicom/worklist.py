"""Modality Worklist C-FIND (PS3.4 Annex K; IHE RAD TF-2 RAD-5): the query and each answer.

Matching (PS3.4 C.2.2.2) as the store can do it:

- Empty, "*" (or only "*"s) is universal matching (C.2.2.2.3).
- Scheduled Station AE Title, Modality, Patient ID, Accession Number and Requested Procedure
  ID are matched exactly (C.2.2.2.1). A value with wildcards is taken as universal: the SCU
  receives more items than it asked for, never fewer.
- Patient's Name is a LIKE pattern (`\\` escapes) over the stored form `FAMILY^GIVEN`, plus
  `^MIDDLE` only when there is a middle name (the store builds exactly that). The query's
  alphabetic group (before any "=") is brought to that form: components past the third
  (prefix, suffix) are dropped, as the store keeps none, and so are trailing empty ones.
  "DOE" is family DOE with no given name ("DOE^"); "DOE^JANE" is that name without a middle
  name; "DOE*" and "DOE^J*" match as prefixes of the whole stored form. Wildcards "*" and
  "?" become "%" and "_" (C.2.2.2.4); a literal "%", "_" or "\\" is escaped. This differs
  from whole-value DICOM matching only for a wildcard that should reach into components the
  query leaves out ("D*E" does not match DOE^JANE). Ideographic and phonetic groups are not
  matched. Whether names match case-insensitively is a site setting (PS3.4 C.2.2.2.1 allows
  it for PN).
- Scheduled Procedure Step Start Date and Time are matched as one combined datetime range
  (PS3.4 C.2.2.2.5.4, the "combined datetime matching" extended negotiation). With a single
  date, as modalities ask ("today"), it is the same as matching date and time apart. A time
  without a date is treated as universal: it cannot bound a datetime. The values are in the
  query's Timezone Offset From UTC (0008,0201) when present (PS3.4 K.4), else facility time.
- A malformed date, time or offset answers "Unable to process" (0xC000, PS3.4 K.4.1.1.4
  Table K.4-1): the identifier is a worklist identifier whose value cannot be read. "Identifier
  does not match SOP Class" (0xA900) is kept for an identifier of the wrong shape: a Scheduled
  Procedure Step Sequence with more than one item (C.2.2.2.6 allows a single item).

Answers return every key the query holds (PS3.4 K.2.2.1.2), from the worklist item where the gateway
knows it, empty where it does not; inside the Scheduled Procedure Step Sequence only the keys
its item asked for. A Requested Procedure Code Sequence item is the whole code (value, scheme,
meaning); a code without a scheme is local, "L". Times are facility local time. Specific
Character Set is "ISO_IR 192" (UTF-8) when some text is not ASCII, else absent. Requested
Procedure Priority (0040,1003) comes from the HL7 priority: S/STAT is HIGH, A/ASAP is MEDIUM,
anything else ROUTINE (STAT is a DICOM defined term too, but HIGH is the one every modality
knows).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from mappers.dicom.datetimes import (
    format_da,
    format_offset,
    format_tm,
    parse_date_range,
    parse_offset,
    parse_time_range,
)
from mappers.dicom.errors import CANNOT_UNDERSTAND, IDENTIFIER_DOES_NOT_MATCH, DicomMappingError
from mappers.dicom.values import text
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery

STEP_SEQUENCE = "(0040,0100) ScheduledProcedureStepSequence"
START_DATE = "(0040,0002) ScheduledProcedureStepStartDate"
START_TIME = "(0040,0003) ScheduledProcedureStepStartTime"

UTF8 = "ISO_IR 192"
_LIKE_SPECIAL = {"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"}


def parse_worklist_query(
    identifier: Dataset, *, facility_tz: tzinfo, case_insensitive_names: bool
) -> WorklistQuery:
    """Read a worklist C-FIND identifier's matching keys; absent keys are universal.

    Raises:
        DicomMappingError: a malformed start date, time or offset (CANNOT_UNDERSTAND, 0xC000);
            more than one Scheduled Procedure Step item (IDENTIFIER_DOES_NOT_MATCH, 0xA900).
    """
    step = _query_step(identifier)
    start_from, start_to = _start_bounds(
        text(step, "ScheduledProcedureStepStartDate"),
        text(step, "ScheduledProcedureStepStartTime"),
        text(identifier, "TimezoneOffsetFromUTC"),
        facility_tz,
    )
    return WorklistQuery(
        station_ae_title=_exact(step, "ScheduledStationAETitle"),
        modality=_exact(step, "Modality"),
        patient_id=_exact(identifier, "PatientID"),
        patient_name=translate_person_name(text(identifier, "PatientName")),
        patient_name_case_insensitive=case_insensitive_names,
        accession=_exact(identifier, "AccessionNumber"),
        requested_procedure_id=_exact(identifier, "RequestedProcedureID"),
        start_from=start_from,
        start_to=start_to,
    )


def translate_wildcards(value: str) -> str:
    """Turn DICOM wildcards into a LIKE pattern (escape `\\`): `*` -> `%`, `?` -> `_`."""
    return "".join(_LIKE_SPECIAL.get(char, char) for char in value)


def translate_person_name(value: str) -> str:
    """Turn a PN key into a LIKE pattern over the stored FAMILY^GIVEN[^MIDDLE]; "" if universal."""
    alphabetic = value.split("=", maxsplit=1)[0]
    if _universal(alphabetic):
        return ""
    components = alphabetic.split("^")[:3]
    while components and not components[-1]:
        components.pop()
    if not components:
        return ""  # "^": every component empty is an empty name, universal
    if len(components) == 1 and not components[0].endswith("*"):
        components.append("")  # the stored form always has its given name component
    return translate_wildcards("^".join(components))


def worklist_response(item: WorklistItem, identifier: Dataset, *, facility_tz: tzinfo) -> Dataset:
    """Answer one worklist item with the keys the query identifier asked for."""
    local_start = item.scheduled_start.astimezone(facility_tz)
    response = _answer(identifier, item_values(item, local_start))
    if "ScheduledProcedureStepSequence" in identifier:
        asked = identifier.ScheduledProcedureStepSequence or []
        values = step_values(item, local_start)
        # An empty sequence asks for the whole sequence (C.2.2.2.6): every attribute we know.
        step = _answer(asked[0], values) if asked else _filled(values)
        response.ScheduledProcedureStepSequence = [step]
    if not _is_ascii(response):
        response.SpecificCharacterSet = UTF8
    return response


def priority_term(priority: str) -> str:
    """The Requested Procedure Priority (0040,1003) term for an HL7 priority code."""
    code = priority.strip().upper()
    if code in ("S", "STAT"):
        return "HIGH"
    if code in ("A", "ASAP"):
        return "MEDIUM"
    return "ROUTINE"


def _query_step(identifier: Dataset) -> Dataset:
    """The Scheduled Procedure Step item of the query; an empty one when there is none."""
    items = identifier.get("ScheduledProcedureStepSequence") or []
    if len(items) > 1:
        raise DicomMappingError(
            "a matching key sequence holds a single item (PS3.4 C.2.2.2.6)",
            IDENTIFIER_DOES_NOT_MATCH,
            tag=STEP_SEQUENCE,
        )
    return items[0] if items else Dataset()


def _start_bounds(
    date_text: str, time_text: str, offset: str, facility_tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """The scheduled start range in UTC, inclusive at both ends; None where open."""
    if _universal(date_text):
        return None, None
    zone = parse_offset(offset, status=CANNOT_UNDERSTAND) or facility_tz
    first_day, last_day = parse_date_range(date_text, tag=START_DATE, status=CANNOT_UNDERSTAND)
    first_time, last_time = (None, None)
    if not _universal(time_text):
        first_time, last_time = parse_time_range(
            time_text, tag=START_TIME, status=CANNOT_UNDERSTAND
        )
    return (
        _instant(first_day, first_time or time.min, zone),
        _instant(last_day, last_time or time.max, zone),
    )


def _instant(day: date | None, moment: time, zone: tzinfo) -> datetime | None:
    return None if day is None else datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


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
        "ScheduledProcedureStepStartDate": format_da(local_start),
        "ScheduledProcedureStepStartTime": format_tm(local_start.time()),
        "Modality": item.modality,
        "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": item.procedure_text,
        "ScheduledProcedureStepID": item.requested_procedure_id,
        "ScheduledProcedureStepStatus": "SCHEDULED",
        "ScheduledProcedureStepEndDate": "",
        "ScheduledProcedureStepEndTime": "",
    }
    if item.scheduled_duration_minutes is not None:
        local_end = local_start + timedelta(minutes=item.scheduled_duration_minutes)
        values["ScheduledProcedureStepEndDate"] = format_da(local_end)
        values["ScheduledProcedureStepEndTime"] = format_tm(local_end.time())
    return values


def _answer(asked: Dataset, values: Mapping[str, object]) -> Dataset:
    """The keys of `asked` with our values; keys we do not know come back empty."""
    answer = Dataset()
    for element in asked:
        keyword = element.keyword
        if keyword in ("SpecificCharacterSet", "ScheduledProcedureStepSequence"):
            continue  # the character set is ours to choose; the step has its own answer
        if keyword in values:
            setattr(answer, keyword, _dicom_value(values[keyword]))
        else:
            answer.add(_empty(element))
    return answer


def _filled(values: Mapping[str, object]) -> Dataset:
    answer = Dataset()
    for keyword, value in values.items():
        setattr(answer, keyword, _dicom_value(value))
    return answer


def _dicom_value(value: object) -> object:
    """A value as pydicom takes it: a sequence's items (dicts) become datasets."""
    if isinstance(value, list):
        return [_filled(part) for part in value]
    return value


def _empty(element: DataElement) -> DataElement:
    """A requested attribute we cannot fill: zero length, of the VR it came with."""
    return DataElement(element.tag, element.VR, empty_value_for_VR(element.VR))


def _person_name(family: str, given: str, middle: str = "") -> str:
    """A PN value FAMILY^GIVEN^MIDDLE, trailing empty components left out (PS3.5 6.2.1)."""
    return "^".join((family, given, middle)).rstrip("^")


def _is_ascii(ds: Dataset) -> bool:
    """True when every text value is in the default repertoire (no character set needed)."""
    return all(_ascii_value(element.value) for element in ds)


def _ascii_value(value: object) -> bool:
    if isinstance(value, Sequence):
        return all(_is_ascii(item) for item in value)
    if isinstance(value, str | PersonName):
        return str(value).isascii()
    if isinstance(value, MultiValue | list):
        return all(_ascii_value(part) for part in value)
    return True


def _universal(value: str) -> bool:
    """Empty or only "*": universal matching (PS3.4 C.2.2.2.3, C.2.2.2.4)."""
    return not value.strip("*")


def _exact(ds: Dataset, keyword: str) -> str:
    """A single-value matching key; empty (universal) when it is one or holds wildcards."""
    value = text(ds, keyword)
    return "" if _universal(value) or _has_wildcard(value) else value


def _has_wildcard(value: str) -> bool:
    return any(char in "*?" for char in value)
