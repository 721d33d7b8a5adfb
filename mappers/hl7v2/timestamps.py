"""HL7 v2 date and time values (DT, DTM/TS) to Python dates and UTC datetimes.

HL7 v2.5 chapter 2A.22 (DTM): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. A value without
an offset is local time at the facility (DESIGN.md), so the facility zone is passed in.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from mappers.errors import InvalidValue

_DTM = re.compile(
    r"^(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?"
    r"(?P<hour>\d{2})?(?P<minute>\d{2})?(?P<second>\d{2})?"
    r"(?:\.(?P<fraction>\d{1,4}))?"
    r"(?P<offset>[+-]\d{4})?$"
)


def parse_dtm(value: str, facility_tz: tzinfo, location: str) -> datetime | None:
    """Read a DTM/TS value as an aware UTC datetime; None when empty.

    Missing parts take their first value (a date alone is its midnight). The degree of
    precision component of a v2.3 TS (`^D`) has been split off by the caller.

    Raises:
        InvalidValue: the text is not a DTM, or names an impossible date or offset.
    """
    text = value.strip()
    if not text:
        return None
    try:
        return _utc_of(text, facility_tz)
    except _NotDtm:
        raise InvalidValue(f"not an HL7 date/time: {text!r}", location) from None
    except ValueError as exc:
        raise InvalidValue(f"impossible date/time {text!r}: {exc}", location) from exc


class _NotDtm(Exception):
    """The text does not have the shape of a DTM."""


# A message names the same moment in several fields (MSH-7, ORC-9, OBR-7, quantity/timing),
# and messages sent together share it: reading each text once per zone saves the regular
# expression and the zone arithmetic (datetimes are immutable, so sharing one is safe).
@functools.lru_cache(maxsize=1024)
def _utc_of(text: str, facility_tz: tzinfo) -> datetime:
    """The UTC moment a DTM text names.

    Raises:
        _NotDtm: the text is not a DTM.
        ValueError: an impossible date, time or offset.
    """
    match = _DTM.match(text)
    if match is None:
        raise _NotDtm(text)
    parts = match.groupdict()
    fraction = parts["fraction"] or ""
    local = datetime(
        int(parts["year"]),
        int(parts["month"] or 1),
        int(parts["day"] or 1),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )
    zone = _offset_zone(parts["offset"]) if parts["offset"] else facility_tz
    return local.replace(tzinfo=zone).astimezone(UTC)


def parse_dt(value: str, location: str) -> date | None:
    """Read a DT value (YYYY[MM[DD]], e.g. a birth date) as a date; None when empty.

    Raises:
        InvalidValue: the text is not a date.
    """
    text = value.strip()
    if not text:
        return None
    # A birth date sent as a full DTM (PID-7 is TS in v2.3-2.5) keeps only its date part.
    match = _DTM.match(text)
    if match is None:
        raise InvalidValue(f"not an HL7 date: {text!r}", location)
    parts = match.groupdict()
    try:
        return date(int(parts["year"]), int(parts["month"] or 1), int(parts["day"] or 1))
    except ValueError as exc:
        raise InvalidValue(f"impossible date {text!r}: {exc}", location) from exc


def _offset_zone(offset: str) -> timezone:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 14 or minutes > 59:
        raise ValueError(f"offset {offset} out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_dtm(moment: datetime) -> str:
    """Write an aware datetime as a DTM with seconds and offset (for ACKs and test messages)."""
    return moment.strftime("%Y%m%d%H%M%S%z")
