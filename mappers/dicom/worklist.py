"""Modality Worklist C-FIND (PS3.4 Annex K; IHE RAD TF-2 RAD-5): the query and each answer.

The query is read twice over: as the few keys the store narrows its candidates by with SQL
(`WorklistQuery`: station, modality, patient and order identifiers, a Patient's Name prefix,
the scheduled start range), each never narrower than the standard's rule; and as the pure
matcher that decides each item by PS3.4 C.2.2.2 in full (`worklist_matching`, whose docstring
states the rules).

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
from datetime import tzinfo

from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from mappers.dicom.errors import IDENTIFIER_DOES_NOT_MATCH, DicomMappingError
from mappers.dicom.values import text
from mappers.dicom.worklist_matching import read_matcher
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from mappers.dicom.worklist_values import (
    START_DATE,
    START_TIME,
    item_values,
    priority_term,
    start_bounds,
    step_values,
)

STEP_SEQUENCE = "(0040,0100) ScheduledProcedureStepSequence"

UTF8 = "ISO_IR 192"
_LIKE_SPECIAL = {"\\": "\\\\", "%": "\\%", "_": "\\_"}


def parse_worklist_query(
    identifier: Dataset, *, facility_tz: tzinfo, case_insensitive_names: bool
) -> WorklistQuery:
    """Read a worklist C-FIND identifier: the store's narrowing keys and the pure matcher.

    Raises:
        DicomMappingError: a malformed date, time or offset (CANNOT_UNDERSTAND, 0xC000);
            more than one Scheduled Procedure Step item (IDENTIFIER_DOES_NOT_MATCH, 0xA900).
    """
    step = _query_step(identifier)
    start_from, start_to = start_bounds(
        text(step, "ScheduledProcedureStepStartDate"),
        text(step, "ScheduledProcedureStepStartTime"),
        text(identifier, "TimezoneOffsetFromUTC"),
        facility_tz,
    )
    matcher = read_matcher(
        identifier, step, facility_tz=facility_tz, fold_names=case_insensitive_names
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
        matcher=matcher,
    )


def translate_person_name(value: str) -> str:
    """A PN key as a LIKE prefix over the stored FAMILY^GIVEN[^MIDDLE]; "" if it narrows
    nothing. The literal text before the first wild card, so that the store's candidates are
    never fewer than the matcher's answers (`worklist_matching` decides)."""
    alphabetic = value.split("=", maxsplit=1)[0].rstrip(" ").rstrip("^")
    literal = alphabetic
    for wildcard in "*?":
        literal = literal.split(wildcard, maxsplit=1)[0]
    if not literal.strip("^"):
        return ""
    return "".join(_LIKE_SPECIAL.get(char, char) for char in literal) + "%"


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
    """A key the store can narrow by equality; empty when it is universal, holds wild cards or
    several values (the matcher takes those)."""
    if isinstance(ds.get(keyword), MultiValue):
        return ""
    value = text(ds, keyword)
    return "" if _universal(value) or _has_wildcard(value) or "\\" in value else value


def _has_wildcard(value: str) -> bool:
    return any(char in "*?" for char in value)


# Re-exported: callers name the step's start keys and the priority terms through this module.
__all__ = [
    "START_DATE",
    "START_TIME",
    "STEP_SEQUENCE",
    "UTF8",
    "item_values",
    "parse_worklist_query",
    "priority_term",
    "step_values",
    "translate_person_name",
    "worklist_response",
]
