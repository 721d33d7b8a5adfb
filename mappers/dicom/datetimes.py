"""DICOM DA, TM and DT values (PS3.5 6.2) to dates, times and UTC datetimes, and back.

A value without an offset is local time: the offset the dataset gives in Timezone Offset From
UTC (0008,0201) when it has one (PS3.3 C.12.1.1.8), else the facility's zone (DESIGN.md).
C-FIND keys may hold ranges of dates or times (PS3.4 C.2.2.2.5).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from mappers.dicom.errors import INVALID_ATTRIBUTE_VALUE, DicomMappingError

OFFSET_TAG = "(0008,0201) TimezoneOffsetFromUTC"

# PS3.5 6.2 DA: YYYYMMDD; its note asks readers to accept the ACR-NEMA form YYYY.MM.DD too.
_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$|^(\d{4})\.(\d{2})\.(\d{2})$")
# PS3.5 6.2 TM: HH[MM[SS[.F{1,6}]]]; the ACR-NEMA form HH:MM:SS.frac is read as well.
_TM = re.compile(
    r"^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$"
    r"|^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$"
)
# PS3.5 6.2 DT: YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX].
_DT = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?$"
)
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_PADDING = " \x00"


def parse_da(value: str, *, tag: str = "", status: int = INVALID_ATTRIBUTE_VALUE) -> date | None:
    """Read a DA value; None when empty.

    Raises:
        DicomMappingError: the text is no date (with `status`, naming `tag`).
    """
    text = value.strip(_PADDING)
    if not text:
        return None
    match = _DA.match(text)
    if match is None:
        raise DicomMappingError(f"not a DICOM date (DA): {text!r}", status, tag=tag)
    try:
        return date(*(int(part) for part in match.groups() if part is not None))
    except ValueError as exc:
        raise DicomMappingError(f"impossible date {text!r}: {exc}", status, tag=tag) from exc


def parse_tm(value: str, *, tag: str = "", status: int = INVALID_ATTRIBUTE_VALUE) -> time | None:
    """Read a TM value (missing parts are zero); None when empty.

    Raises:
        DicomMappingError: the text is no time (with `status`, naming `tag`).
    """
    text = value.strip(_PADDING)
    if not text:
        return None
    return _time_span(text, tag, status)[0]


def parse_offset(value: str, *, status: int = INVALID_ATTRIBUTE_VALUE) -> timezone | None:
    """Read Timezone Offset From UTC (0008,0201), "+HHMM" or "-HHMM"; None when empty.

    Raises:
        DicomMappingError: the text is no offset, or one outside -1200..+1400 (PS3.3 C.12.1.1.8).
    """
    text = value.strip(_PADDING)
    if not text:
        return None
    zone = _zone(text)
    if zone is None:
        raise DicomMappingError(f"not a UTC offset: {text!r}", status, tag=OFFSET_TAG)
    return zone


def parse_da_tm(
    date_value: str,
    time_value: str,
    facility_tz: tzinfo,
    offset: str = "",
    *,
    date_tag: str = "",
    time_tag: str = "",
    status: int = INVALID_ATTRIBUTE_VALUE,
) -> datetime | None:
    """Read a DA + TM pair (e.g. Study Date and Time) as an aware UTC datetime.

    None when the date is empty; an empty time is midnight. `offset` is the dataset's
    Timezone Offset From UTC; without it the values are facility time.

    Raises:
        DicomMappingError: the date, time or offset is malformed (naming the attribute).
    """
    zone = parse_offset(offset, status=status) or facility_tz
    day = parse_da(date_value, tag=date_tag, status=status)
    moment = parse_tm(time_value, tag=time_tag, status=status) or time()
    if day is None:
        return None
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def parse_dt(
    value: str,
    facility_tz: tzinfo,
    offset: str = "",
    *,
    tag: str = "",
    status: int = INVALID_ATTRIBUTE_VALUE,
) -> datetime | None:
    """Read a DT value as an aware UTC datetime; None when empty.

    Missing parts take their first value. The value's own &ZZXX suffix wins over `offset`
    (Timezone Offset From UTC), which wins over the facility zone (PS3.5 6.2, DT).

    Raises:
        DicomMappingError: the text is no DT, or names an impossible date, time or offset.
    """
    text = value.strip(_PADDING)
    if not text:
        return None
    match = _DT.match(text)
    if match is None:
        raise DicomMappingError(f"not a DICOM date-time (DT): {text!r}", status, tag=tag)
    year, month, day, hour, minute, second, fraction, suffix = match.groups()
    zone = _zone(suffix) if suffix else parse_offset(offset, status=status) or facility_tz
    if zone is None:
        raise DicomMappingError(f"impossible UTC offset in {text!r}", status, tag=tag)
    try:
        local = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            *_seconds(second, fraction),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise DicomMappingError(f"impossible date-time {text!r}: {exc}", status, tag=tag) from exc
    return local.astimezone(UTC)


def parse_date_range(
    value: str, *, tag: str = "", status: int = INVALID_ATTRIBUTE_VALUE
) -> tuple[date | None, date | None]:
    """Read a DA matching key: a single date, "D1-D2", "-D2" or "D1-"; None is an open end.

    A single date is the range of that one day; empty text or "-" alone bound nothing.

    Raises:
        DicomMappingError: a date is malformed, or D1 is after D2 (PS3.4 C.2.2.2.5.1).
    """
    text = value.strip(_PADDING)
    if "-" not in text:
        day = parse_da(text, tag=tag, status=status)
        return day, day
    first, _, last = text.partition("-")
    start = parse_da(first.strip(), tag=tag, status=status)
    end = parse_da(last.strip(), tag=tag, status=status)
    if start is not None and end is not None and start > end:
        raise DicomMappingError(f"date range {text!r} ends before it starts", status, tag=tag)
    return start, end


def parse_time_range(
    value: str, *, tag: str = "", status: int = INVALID_ATTRIBUTE_VALUE, ordered: bool = True
) -> tuple[time | None, time | None]:
    """Read a TM matching key: a single time, "T1-T2", "-T2" or "T1-"; None is an open end.

    A time names the span its precision covers ("10" is 10:00:00-10:59:59.999999), so the
    upper bound is the last instant of the upper value: inclusive, as PS3.4 C.2.2.2.5.2 says.
    With `ordered` false T1 may follow T2 (the times of a combined date-time range).

    Raises:
        DicomMappingError: a time is malformed, or T1 is after T2 (ranges crossing midnight
            are not supported, PS3.4 C.2.2.2.5.2).
    """
    text = value.strip(_PADDING)
    if "-" not in text:
        return _time_span(text, tag, status) if text else (None, None)
    first, _, last = text.partition("-")
    first, last = first.strip(), last.strip()
    start = _time_span(first, tag, status)[0] if first else None
    end = _time_span(last, tag, status)[1] if last else None
    if ordered and start is not None and end is not None and start > end:
        raise DicomMappingError(f"time range {text!r} ends before it starts", status, tag=tag)
    return start, end


def format_da(day: date) -> str:
    """Write a date as DA, YYYYMMDD."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def format_tm(moment: time) -> str:
    """Write a time as TM, HHMMSS, with .FFFFFF only when it has microseconds."""
    text = f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    return f"{text}.{moment.microsecond:06d}" if moment.microsecond else text


def format_offset(moment: datetime) -> str:
    """Write an aware datetime's UTC offset as Timezone Offset From UTC, "+HHMM"/"-HHMM"."""
    offset = moment.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{minutes:02d}"


def _time_span(text: str, tag: str, status: int) -> tuple[time, time]:
    """The first and last instant a TM value of its precision names."""
    match = _TM.match(text)
    if match is None:
        raise DicomMappingError(f"not a DICOM time (TM): {text!r}", status, tag=tag)
    groups = match.groups()
    hour, minute, second, fraction = groups[:4] if groups[0] is not None else groups[4:]
    try:
        first = time(int(hour), int(minute or 0), *_seconds(second, fraction))
    except ValueError as exc:
        raise DicomMappingError(f"impossible time {text!r}: {exc}", status, tag=tag) from exc
    if minute is None:
        last = first.replace(minute=59, second=59, microsecond=999_999)
    elif second is None:
        last = first.replace(second=59, microsecond=999_999)
    elif fraction is None:
        last = first.replace(microsecond=999_999)
    else:
        # .F names a tenth of a second, .FF a hundredth...: the rest of that fraction.
        rest = 10 ** (6 - len(fraction)) - 1
        last = first.replace(microsecond=min(first.microsecond + rest, 999_999))
    return first, last


def _seconds(second: str | None, fraction: str | None) -> tuple[int, int]:
    """Seconds and microseconds; a leap second (SS = 60, PS3.5 6.2 TM) is its minute's end."""
    seconds = int(second or 0)
    micros = int(fraction.ljust(6, "0")) if fraction else 0
    if seconds == 60:
        return 59, 999_999
    return seconds, micros


def _zone(text: str) -> timezone | None:
    """A fixed zone from "+HHMM"/"-HHMM" within -1200..+1400; None if it is no such offset."""
    match = _OFFSET.match(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) > 59 or offset > timedelta(hours=14 if sign == "+" else 12):
        return None
    return timezone(-offset if sign == "-" else offset)
