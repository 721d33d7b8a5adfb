"""DICOM DA, TM, DT and C-FIND range values read to dates, times and UTC datetimes, and back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.dicom.datetimes import (
    OFFSET_TAG,
    format_da,
    format_offset,
    format_tm,
    parse_da,
    parse_da_tm,
    parse_date_range,
    parse_dt,
    parse_offset,
    parse_time_range,
    parse_tm,
)
from mappers.dicom.errors import CANNOT_UNDERSTAND, INVALID_ATTRIBUTE_VALUE, DicomMappingError

BERLIN = ZoneInfo("Europe/Berlin")
TAG = "(0008,0020) StudyDate"
END_OF_SECOND = 999_999


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260302", date(2026, 3, 2)),
        ("20260302 ", date(2026, 3, 2)),
        ("2026.03.02", date(2026, 3, 2)),
        ("20240229", date(2024, 2, 29)),
        ("", None),
        ("  ", None),
    ],
)
def test_parse_da(text: str, expected: date | None) -> None:
    """DA is YYYYMMDD (or the ACR-NEMA YYYY.MM.DD); padding is dropped; empty is None."""
    assert parse_da(text) == expected


@pytest.mark.parametrize(
    "text", ["2026030", "202603021", "2026-03-02", "20261302", "20250229", "2026.0302", "abc"]
)
def test_parse_da_refuses_malformed(text: str) -> None:
    """A value that is no date, or an impossible one, is INVALID_ATTRIBUTE_VALUE naming the tag."""
    with pytest.raises(DicomMappingError) as caught:
        parse_da(text, tag=TAG)
    assert caught.value.status == INVALID_ATTRIBUTE_VALUE
    assert caught.value.tag == TAG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", time(10)),
        ("1030", time(10, 30)),
        ("103015", time(10, 30, 15)),
        ("103015.5", time(10, 30, 15, 500_000)),
        ("103015.123456", time(10, 30, 15, 123_456)),
        ("10:30:15.25", time(10, 30, 15, 250_000)),
        ("10:30", time(10, 30)),
        ("235960", time(23, 59, 59, END_OF_SECOND)),
        ("093000 ", time(9, 30)),
        ("", None),
    ],
)
def test_parse_tm(text: str, expected: time | None) -> None:
    """TM is HH[MM[SS[.F{1,6}]]] (or HH:MM:SS.frac); a leap second is its minute's end."""
    assert parse_tm(text) == expected


@pytest.mark.parametrize(
    "text", ["1", "103", "2400", "1060", "103061", "103015.1234567", "10:3015", "1030.5", "noon"]
)
def test_parse_tm_refuses_malformed(text: str) -> None:
    """A value that is no time is INVALID_ATTRIBUTE_VALUE naming the tag given."""
    with pytest.raises(DicomMappingError) as caught:
        parse_tm(text, tag="(0008,0030) StudyTime")
    assert caught.value.status == INVALID_ATTRIBUTE_VALUE
    assert caught.value.tag == "(0008,0030) StudyTime"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+0100", timezone(timedelta(hours=1))),
        ("-0530", timezone(-timedelta(hours=5, minutes=30))),
        ("+1400", timezone(timedelta(hours=14))),
        ("-1200", timezone(-timedelta(hours=12))),
        ("+0000", UTC),
        ("", None),
    ],
)
def test_parse_offset(text: str, expected: timezone | None) -> None:
    """Timezone Offset From UTC is +HHMM/-HHMM within -1200..+1400; empty is None."""
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["0100", "+1500", "-1300", "+0160", "+01:00", "UTC"])
def test_parse_offset_refuses_malformed(text: str) -> None:
    """A bad offset names Timezone Offset From UTC (0008,0201)."""
    with pytest.raises(DicomMappingError) as caught:
        parse_offset(text)
    assert caught.value.status == INVALID_ATTRIBUTE_VALUE
    assert caught.value.tag == OFFSET_TAG == "(0008,0201) TimezoneOffsetFromUTC"


@pytest.mark.parametrize(
    ("day", "moment", "offset", "expected"),
    [
        ("20260302", "093000", "", utc(2026, 3, 2, 8, 30)),
        ("20260701", "120000", "", utc(2026, 7, 1, 10, 0)),
        ("20260302", "093000", "-0500", utc(2026, 3, 2, 14, 30)),
        ("20260302", "", "", utc(2026, 3, 1, 23, 0)),
        ("20260302", "0930", "+0000", utc(2026, 3, 2, 9, 30)),
        ("", "093000", "", None),
    ],
)
def test_parse_da_tm(day: str, moment: str, offset: str, expected: datetime | None) -> None:
    """DA + TM is facility time (DST included) unless an offset is given; no date, no moment."""
    assert parse_da_tm(day, moment, BERLIN, offset) == expected


@pytest.mark.parametrize(
    ("day", "moment", "offset", "tag"),
    [
        ("2026-03-02", "093000", "", "date"),
        ("20260302", "9:30", "", "time"),
        ("20260302", "093000", "+2500", OFFSET_TAG),
    ],
)
def test_parse_da_tm_names_the_bad_attribute(day: str, moment: str, offset: str, tag: str) -> None:
    """A malformed date, time or offset is refused naming that attribute, with the status given."""
    with pytest.raises(DicomMappingError) as caught:
        parse_da_tm(
            day, moment, BERLIN, offset, date_tag="date", time_tag="time", status=CANNOT_UNDERSTAND
        )
    assert caught.value.status == CANNOT_UNDERSTAND
    assert caught.value.tag == tag


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ("20260302093000", "", utc(2026, 3, 2, 8, 30)),
        ("20260302093000.25+0100", "", datetime(2026, 3, 2, 8, 30, 0, 250_000, tzinfo=UTC)),
        ("20260302093000-0500", "+0900", utc(2026, 3, 2, 14, 30)),
        ("20260302093000", "+0900", utc(2026, 3, 2, 0, 30)),
        ("2026", "", utc(2025, 12, 31, 23, 0)),
        ("202603", "+0000", utc(2026, 3, 1)),
        ("2026030209", "+0000", utc(2026, 3, 2, 9)),
        ("", "", None),
    ],
)
def test_parse_dt(text: str, offset: str, expected: datetime | None) -> None:
    """DT: the value's suffix wins over Timezone Offset From UTC, which wins over the facility."""
    assert parse_dt(text, BERLIN, offset) == expected


@pytest.mark.parametrize(
    "text",
    ["2026030209300", "20261302", "20260302+1500", "2026-03-02T09:30", "20260302093000.1234567"],
)
def test_parse_dt_refuses_malformed(text: str) -> None:
    """A DT that is malformed or impossible is INVALID_ATTRIBUTE_VALUE naming the tag."""
    with pytest.raises(DicomMappingError) as caught:
        parse_dt(text, BERLIN, tag="(0008,002A) AcquisitionDateTime")
    assert caught.value.status == INVALID_ATTRIBUTE_VALUE
    assert caught.value.tag == "(0008,002A) AcquisitionDateTime"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260302", (date(2026, 3, 2), date(2026, 3, 2))),
        ("20260301-20260305", (date(2026, 3, 1), date(2026, 3, 5))),
        ("20260301 - 20260305", (date(2026, 3, 1), date(2026, 3, 5))),
        ("-20260305", (None, date(2026, 3, 5))),
        ("20260301-", (date(2026, 3, 1), None)),
        ("20260302-20260302", (date(2026, 3, 2), date(2026, 3, 2))),
        ("-", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_date_range(text: str, expected: tuple[date | None, date | None]) -> None:
    """A DA key is a date, "D1-D2", "-D2" or "D1-" (PS3.4 C.2.2.2.5.1); None is an open end."""
    assert parse_date_range(text) == expected


@pytest.mark.parametrize("text", ["20260305-20260301", "2026-03-01", "20260301-2026", "x-y"])
def test_parse_date_range_refuses_malformed(text: str) -> None:
    """A reversed or malformed range is refused with the status and tag given."""
    with pytest.raises(DicomMappingError) as caught:
        parse_date_range(text, tag=TAG, status=CANNOT_UNDERSTAND)
    assert caught.value.status == CANNOT_UNDERSTAND
    assert caught.value.tag == TAG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", (time(10), time(10, 59, 59, END_OF_SECOND))),
        ("1030", (time(10, 30), time(10, 30, 59, END_OF_SECOND))),
        ("103015", (time(10, 30, 15), time(10, 30, 15, END_OF_SECOND))),
        ("103015.5", (time(10, 30, 15, 500_000), time(10, 30, 15, 599_999))),
        ("0800-1200", (time(8), time(12, 0, 59, END_OF_SECOND))),
        ("08-12", (time(8), time(12, 59, 59, END_OF_SECOND))),
        ("-1200", (None, time(12, 0, 59, END_OF_SECOND))),
        ("0800-", (time(8), None)),
        ("", (None, None)),
    ],
)
def test_parse_time_range(text: str, expected: tuple[time | None, time | None]) -> None:
    """A TM key's upper bound is the last instant its precision names (inclusive, C.2.2.2.5.2)."""
    assert parse_time_range(text) == expected


@pytest.mark.parametrize("text", ["1200-0800", "25-", "08:00-x"])
def test_parse_time_range_refuses_malformed(text: str) -> None:
    """A range crossing midnight or a malformed time is refused with the tag given."""
    with pytest.raises(DicomMappingError) as caught:
        parse_time_range(text, tag="(0040,0003) ScheduledProcedureStepStartTime")
    assert caught.value.status == INVALID_ATTRIBUTE_VALUE
    assert caught.value.tag == "(0040,0003) ScheduledProcedureStepStartTime"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (time(9, 5, 7), "090507"),
        (time(0, 0), "000000"),
        (time(23, 59, 59, 120_000), "235959.120000"),
    ],
)
def test_format_tm(value: time, expected: str) -> None:
    """TM is written HHMMSS, with six fraction digits only when there are microseconds."""
    assert format_tm(value) == expected


def test_format_da_and_offset() -> None:
    """DA is written YYYYMMDD and an offset +HHMM/-HHMM, both as the parsers read them."""
    assert format_da(date(2026, 3, 2)) == "20260302"
    assert format_da(datetime(987, 1, 31, 12)) == "09870131"
    assert format_offset(datetime(2026, 3, 2, 9, tzinfo=BERLIN)) == "+0100"
    assert format_offset(datetime(2026, 7, 2, 9, tzinfo=BERLIN)) == "+0200"
    west = timezone(-timedelta(hours=3, minutes=30))
    assert format_offset(datetime(2026, 7, 2, tzinfo=west)) == "-0330"
    assert format_offset(datetime(2026, 7, 2, tzinfo=ZoneInfo("America/St_Johns"))) == "-0230"


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31))


@given(dates, dates)
def test_date_range_property(first: date, second: date) -> None:
    """Any ordered pair of dates reads back as written, in each of the four range forms."""
    low, high = min(first, second), max(first, second)
    assert parse_date_range(f"{format_da(low)}-{format_da(high)}") == (low, high)
    assert parse_date_range(f"-{format_da(high)}") == (None, high)
    assert parse_date_range(f"{format_da(low)}-") == (low, None)
    assert parse_date_range(format_da(low)) == (low, low)


@given(dates, dates)
def test_reversed_date_range_property(first: date, second: date) -> None:
    """A range whose first date is after its second is always refused."""
    if first == second:
        return
    low, high = min(first, second), max(first, second)
    with pytest.raises(DicomMappingError):
        parse_date_range(f"{format_da(high)}-{format_da(low)}")


@given(st.times())
def test_time_round_trip_property(value: time) -> None:
    """Every time written as TM reads back the same."""
    assert parse_tm(format_tm(value)) == value
