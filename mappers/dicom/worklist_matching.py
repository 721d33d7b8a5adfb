"""Modality Worklist matching (PS3.4 C.2.2.2, K.6.1.2): does one worklist item match a query?

Pure: the identifier is read once (`read_matcher`), then each item is tested against the
values it would answer (`worklist.item_values`, `worklist.step_values`), so that what is
matched is exactly what the modality is shown. The store may narrow the candidates with SQL
first; this module decides.

- **Universal matching** (C.2.2.2.3): a key absent, zero length, or only "*" matches all. An
  item sequence key that is empty, or whose item holds only universal keys, matches all.
- **Single value matching** (C.2.2.2.1): the whole value, case-sensitive, leading and trailing
  spaces insignificant. Patient's Name and other PN keys compare their alphabetic group (the
  text before any "="), trailing empty components insignificant, and ignore case when the
  site says so (C.2.2.2.1 allows it for PN).
- **Wild card matching** (C.2.2.2.4): "*" (any run, even none) and "?" (one character) in
  keys of VR AE, CS, LO, LT, PN, SH, ST, UC, UT; a value holding them matches as a pattern
  over the whole value.
- **List of UID matching** (C.2.2.2.2): a UI key of several values, separated by "\\",
  matches an item holding any of them. A key of another VR holding several values is read the
  same way (any of them), as DCMTK's worklist server reads it: more answers, never fewer.
- **Multi-valued items**: an item attribute of several values (a step on two stations has
  Scheduled Station AE Title "CT01\\CT02") matches when any one of its values matches.
- **Range matching** (C.2.2.2.5): DA, TM and DT keys "A-B", "-B", "A-", inclusive. Scheduled
  Procedure Step Start Date and Time are matched together as one date-time range when the
  date is given (C.2.2.2.5.4; DCMTK's worklist server does the same): "today" with
  "120000-" is today from noon. A time range with no date matches the time of day on any
  day. Times are in the query's Timezone Offset From UTC (0008,0201), else facility time.
- **Sequence matching** (C.2.2.2.6): the keys of a sequence's single item are matched against
  each of the item's sequence items; one item matching them all is a match.
- **Empty values**: a key that is not universal never matches an item attribute that is empty.
- Keys the gateway keeps no value for (Scheduled Performing Physician's Name, the step's end,
  any attribute it does not answer) are return keys only: they never exclude an item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from mappers.dicom.datetimes import (
    parse_da,
    parse_date_range,
    parse_offset,
    parse_time_range,
    parse_tm,
)
from mappers.dicom.errors import CANNOT_UNDERSTAND
from mappers.dicom.worklist_model import WorklistItem
from mappers.dicom.worklist_values import START_TIME, item_values, start_bounds, step_values

STEP_SEQUENCE = "ScheduledProcedureStepSequence"
_START_KEYS = ("ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime")
# Attributes answered but never known to the gateway: return keys only (see the docstring).
RETURN_ONLY = frozenset(
    {
        "SpecificCharacterSet",
        "TimezoneOffsetFromUTC",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepEndDate",
        "ScheduledProcedureStepEndTime",
    }
)
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_PADDING = " \x00"


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """One matching key: the attribute, how it matches, and the values it accepts."""

    keyword: str
    kind: str  # "text", "name", "date", "time" or "sequence"
    values: tuple[str | re.Pattern[str], ...] = ()
    low: date | time | None = None
    high: date | time | None = None
    items: tuple[KeyMatch, ...] = ()  # a sequence's item keys


@dataclass(frozen=True, slots=True)
class WorklistMatcher:
    """A worklist query's matching keys, read once; `matches` tests one item."""

    keys: tuple[KeyMatch, ...]
    step: tuple[KeyMatch, ...]
    start_from: datetime | None  # UTC, inclusive
    start_to: datetime | None
    time_from: time | None  # time of day, when the query gives a time without a date
    time_to: time | None
    zone: tzinfo
    fold_names: bool

    def matches(self, item: WorklistItem) -> bool:
        """True when `item` matches every key of the query."""
        start = item.scheduled_start
        if self.start_from is not None and start < self.start_from:
            return False
        if self.start_to is not None and start > self.start_to:
            return False
        local = start.astimezone(self.zone)
        if self.time_from is not None or self.time_to is not None:
            moment = local.time().replace(tzinfo=None)
            if self.time_from is not None and moment < self.time_from:
                return False
            if self.time_to is not None and moment > self.time_to:
                return False
        if self.keys and not _all_match(self.keys, item_values(item, local), self.fold_names):
            return False
        return not self.step or _all_match(self.step, step_values(item, local), self.fold_names)


def read_matcher(
    identifier: Dataset, step: Dataset, *, facility_tz: tzinfo, fold_names: bool
) -> WorklistMatcher:
    """Read the matching keys of a worklist identifier and of its Scheduled Procedure Step item.

    Raises:
        DicomMappingError: a date, time or offset cannot be read (0xC000, naming it).
    """
    offset = _text(identifier.get("TimezoneOffsetFromUTC"))
    zone = parse_offset(offset, status=CANNOT_UNDERSTAND) or facility_tz
    date_text = _text(step.get(_START_KEYS[0]))
    time_text = _text(step.get(_START_KEYS[1]))
    start_from, start_to = start_bounds(date_text, time_text, offset, facility_tz)
    time_from = time_to = None
    if _universal(date_text) and not _universal(time_text):
        time_from, time_to = parse_time_range(time_text, tag=START_TIME, status=CANNOT_UNDERSTAND)
    return WorklistMatcher(
        keys=_read_keys(identifier, skip=(STEP_SEQUENCE,)),
        step=_read_keys(step, skip=_START_KEYS),
        start_from=start_from,
        start_to=start_to,
        time_from=time_from,
        time_to=time_to,
        zone=zone,
        fold_names=fold_names,
    )


# --- reading keys ------------------------------------------------------------------------


def _read_keys(ds: Dataset, *, skip: tuple[str, ...] = ()) -> tuple[KeyMatch, ...]:
    keys = []
    for element in ds:
        keyword = element.keyword
        if not keyword or keyword in skip or keyword in RETURN_ONLY:
            continue
        key = _read_key(keyword, str(element.VR), element.value)
        if key is not None:
            keys.append(key)
    return tuple(keys)


def _read_key(keyword: str, vr: str, value: object) -> KeyMatch | None:
    """The key's matching rule, or None when it matches everything (universal)."""
    if vr == "SQ":
        items = list(value or [])  # type: ignore[call-overload]
        inner = _read_keys(items[0]) if items else ()
        return KeyMatch(keyword, "sequence", items=inner) if inner else None
    if vr in ("DA", "TM"):
        text = _text(value)
        if _universal(text):
            return None
        tag = f"({keyword})"
        if vr == "DA":
            low, high = parse_date_range(text, tag=tag, status=CANNOT_UNDERSTAND)
        else:
            low, high = parse_time_range(text, tag=tag, status=CANNOT_UNDERSTAND)
        return KeyMatch(keyword, "date" if vr == "DA" else "time", low=low, high=high)
    alternatives = [part.strip(_PADDING) for part in _values(value)]
    if vr == "PN":
        alternatives = [_name(part) for part in alternatives]
    if any(_universal(part) for part in alternatives) or not alternatives:
        return None
    patterns = tuple(
        _pattern(part) if vr in _WILDCARD_VRS and _has_wildcard(part) else part
        for part in alternatives
    )
    return KeyMatch(keyword, "name" if vr == "PN" else "text", values=patterns)


def _pattern(value: str) -> re.Pattern[str]:
    """A wild card value (C.2.2.2.4) as a pattern over the whole value."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.compile("".join(parts), re.DOTALL)


# --- matching ----------------------------------------------------------------------------


def _all_match(keys: tuple[KeyMatch, ...], values: Mapping[str, object], fold: bool) -> bool:
    return all(_key_matches(key, values, fold) for key in keys if key.keyword in values)


def _key_matches(key: KeyMatch, values: Mapping[str, object], fold: bool) -> bool:
    value = values[key.keyword]
    if key.kind == "sequence":
        items = value if isinstance(value, list) else []
        return any(_all_match(key.items, part, fold) for part in items)
    parts = [part.strip(_PADDING) for part in str(value).split("\\")]
    parts = [part for part in parts if part]
    if not parts:
        return False  # a key that is not universal never matches an empty value
    if key.kind == "date":
        return any(_in_range(parse_da(part), key.low, key.high) for part in parts)
    if key.kind == "time":
        return any(_in_range(parse_tm(part), key.low, key.high) for part in parts)
    if key.kind == "name":
        parts = [_name(part) for part in parts]
        if fold:
            return any(
                _one_matches(_folded(wanted), part.casefold())
                for wanted in key.values
                for part in parts
            )
    return any(_one_matches(wanted, part) for wanted in key.values for part in parts)


def _one_matches(wanted: str | re.Pattern[str], value: str) -> bool:
    if isinstance(wanted, str):
        return wanted == value
    return wanted.fullmatch(value) is not None


def _folded(wanted: str | re.Pattern[str]) -> str | re.Pattern[str]:
    if isinstance(wanted, str):
        return wanted.casefold()
    return re.compile(wanted.pattern, wanted.flags | re.IGNORECASE)


def _in_range(value: date | time | None, low: object, high: object) -> bool:
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)  # type: ignore[operator]


# --- values ------------------------------------------------------------------------------


def _values(value: object) -> list[str]:
    """A key's values: several when it is multi-valued (or holds a "\\")."""
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(part) for part in value]
    return str(value).split("\\")


def _text(value: object) -> str:
    if isinstance(value, MultiValue | list):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip(_PADDING)


def _name(value: str) -> str:
    """A PN value's alphabetic group, trailing empty components and padding removed."""
    return value.split("=", maxsplit=1)[0].strip(_PADDING).rstrip("^").strip(_PADDING)


def _universal(value: str) -> bool:
    """Empty or only "*": universal matching (PS3.4 C.2.2.2.3, C.2.2.2.4)."""
    return not value.strip(_PADDING).strip("*")


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value
