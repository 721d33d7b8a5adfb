"""A window of END times splits into day, week and month counts added or taken away and
stretches of figure rows that together count every instant of the window once and nothing
else, in any zone, whatever day is today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from store.fold.figure_counts import month_start, week_start
from store.reading.window_days import SPANS, WindowParts, rows_only, window_parts

# Zones whose offsets change at midnight (Santiago, Havana in some years, Beirut until 2023,
# Asuncion) beside ordinary ones: their skipped or repeated midnights must not be counted.
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "America/Asuncion",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)


def _times_counted(parts: WindowParts, instant: datetime, tz: ZoneInfo) -> int:
    """How many times the parts count a figure row ending at `instant`."""
    day = instant.astimezone(tz).date()
    holding = {("day", day), ("week", week_start(day)), ("month", month_start(day))}
    times = sum(sign for span, first, sign in parts.counts if (span, first) in holding)
    times += sum(sign for low, high, sign in parts.rows if low <= instant < high)
    return times


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    window=st.tuples(
        st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2027, 1, 1)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    ),
    spans=st.sampled_from([SPANS, ("day",), ("day", "week"), ("day", "month")]),
    today=st.timedeltas(min_value=timedelta(days=-40), max_value=timedelta(days=100)),
    probes=st.lists(st.floats(min_value=-0.2, max_value=1.2), min_size=20, max_size=20),
)
def test_every_instant_of_the_window_is_counted_once(
    zone: str,
    window: tuple[datetime, timedelta],
    spans: tuple[str, ...],
    today: timedelta,
    probes: list[float],
) -> None:
    """Instants inside the window count once, instants outside it not at all."""
    tz = ZoneInfo(zone)
    start, length = window
    begin = start.replace(tzinfo=UTC)
    end = begin + length
    parts = window_parts(begin, end, tz, spans=spans, today=(begin + today).date())
    assert {span for span, _, _ in parts.counts} <= set(spans)
    edges = [begin, end, *(low for low, _, _ in parts.rows), *(high for _, high, _ in parts.rows)]
    instants = [begin + length * p for p in probes]
    instants += [e + d for e in edges for d in (timedelta(0), -timedelta(microseconds=1))]
    for instant in instants:
        expected = 1 if begin <= instant < end else 0
        assert _times_counted(parts, instant, tz) == expected, instant


def _past(parts: WindowParts, today: date) -> list[tuple[str, date, int]]:
    """The counts that begin by today: the ones with rows to read."""
    return sorted(count for count in parts.counts if count[1] <= today)


def test_a_month_ending_now_reads_few_counts_and_takes_away_the_rest_of_today() -> None:
    """30 days to 16:13 on a Monday (UTC): five counts with rows (two months, taking away a
    week and a day before the window, and the window's first whole day), the first part day
    from the rows, and today counted whole minus the rows after now (which has none yet)."""
    end = datetime(2026, 12, 7, 16, 13, 46, tzinfo=UTC)
    parts = window_parts(end - timedelta(days=30), end, ZoneInfo("UTC"), today=end.date())
    assert _past(parts, end.date()) == [
        ("day", date(2026, 11, 1), -1),
        ("day", date(2026, 11, 8), 1),
        ("month", date(2026, 11, 1), 1),
        ("month", date(2026, 12, 1), 1),
        ("week", date(2026, 11, 2), -1),
    ]
    assert parts.rows == (
        (end - timedelta(days=30), datetime(2026, 11, 8, tzinfo=UTC), 1),
        (end, datetime(2026, 12, 8, tzinfo=UTC), -1),
    )


def test_a_past_month_reads_weeks_and_days() -> None:
    """The same 30 days read a year later (no span after today): four weeks and two days."""
    end = datetime(2026, 12, 7, 16, 13, 46, tzinfo=UTC)
    parts = window_parts(end - timedelta(days=30), end, ZoneInfo("UTC"), today=date(2027, 12, 1))
    weeks = [("week", date(2026, 11, 9) + timedelta(days=7 * n), 1) for n in range(4)]
    assert _past(parts, date(2027, 12, 1)) == sorted(
        [("day", date(2026, 11, 8), 1), ("day", date(2026, 12, 7), 1), *weeks]
    )


def test_a_year_ending_now_reads_months() -> None:
    """366 days to now: the twelve months of this year, with a few days and weeks at the
    start and the days still to come taken away (they cost nothing)."""
    end = datetime(2026, 12, 7, 16, 13, 46, tzinfo=UTC)
    parts = window_parts(end - timedelta(days=366), end, ZoneInfo("UTC"), today=end.date())
    months = [(first, sign) for span, first, sign in parts.counts if span == "month"]
    assert [(date(2026, m, 1), 1) for m in range(1, 13)] == [m for m in months if m[0].year == 2026]
    assert len(_past(parts, end.date())) < 20


def test_a_day_whose_midnight_is_skipped_is_read_from_the_rows() -> None:
    """Santiago's clocks jump from 24:00 to 01:00 on 2026-09-06: that day, and the day
    before it (which ends at the skipped midnight), come from the rows."""
    tz = ZoneInfo("America/Santiago")
    start = datetime(2026, 9, 1, tzinfo=tz)
    parts = window_parts(start, start + timedelta(days=10), tz, spans=("day",))
    counted = {first for _, first, sign in parts.counts if sign > 0}
    assert date(2026, 9, 5) not in counted and date(2026, 9, 6) not in counted
    assert date(2026, 9, 4) in counted and date(2026, 9, 7) in counted


def test_the_calendars_ends_and_empty_windows_are_read_from_the_rows() -> None:
    """A window at year 9999 cannot be split in days; an empty window reads nothing."""
    end = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    start = end - timedelta(days=3)
    assert window_parts(start, end, ZoneInfo("Asia/Tokyo")) == rows_only(start, end)
    assert window_parts(end, end, ZoneInfo("UTC")) == WindowParts((), ())
