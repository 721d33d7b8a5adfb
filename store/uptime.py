"""Pure rules of the equipment figures (DESIGN.md, "Equipment figures"): interval algebra.

Times are aware UTC datetimes and an interval is half-open, [start, end). The algebra works on
closed intervals only: a caller ends the open ones ("still down") at the window end first, with
`close_open`. Every set operation returns its result normalized: sorted, without empty
intervals, overlapping or touching ones merged.

Over a window W of length |W|, with sets written in Python's operators (| union, & intersection,
- difference), the figures are the lengths of the sets P, D and K:

- planned: P = planned & W.
- down: D = (observed_down | unplanned) & W - P. Declared unplanned downtime counts as down
  even while C-ECHO answers; planned downtime wins over everything.
- unknown: K = W - (observed_up | observed_down | planned | unplanned), time nobody observed.
- up = |W| - planned - down - unknown. P, D and K are disjoint, so this is also the length of
  observed_up & W - P - D, and up + down + planned + unknown = |W| exactly (checked).
- failures: the merged intervals of (observed_down | unplanned) - planned that start inside
  W. One that began before W is the same failure continuing, not a new one, though its time
  inside W still counts as down. A down stretch interrupted by planned downtime is two.
- availability = 1 - down / (|W| - planned - unknown), None when the denominator is 0.
- MTBF = up / failures and MTTR = down / failures, None when there is no failure.
- busy = length of busy & W - P - D, and utilization = busy / (|W| - planned - down), None
  when the denominator is 0. Busy leaves out planned and down time (a device being serviced or
  failing is not doing exams, though a study's interval may outlast the failure that broke it)
  so that busy never exceeds its denominator and utilization stays within [0, 1].

Hours are floats (exact durations divided by one hour) and are not rounded here: presentation
rounds. A fleet's figures sum the hours, failures and exams of its devices and recompute the
ratios from the sums, so that a device weighs by its hours (an average of ratios would not).

The prober's observations (`down_intervals_from_probes`): a probe covers [at, at + interval),
stretched to the next probe when that comes within 2 x interval; a longer gap is unknown time
(the prober was not running). N failures in a row open a down interval at the first of them
(the device was failing already) and the first success closes it; fewer than N stay up. A gap
neither opens nor closes a down interval: the state and the count of failures carry across it,
as only a success ends a run of failures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

_HOUR = timedelta(hours=1)
_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time [start, end); end None means it is still open."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        """Check the bounds.

        Raises:
            ValueError: a bound is naive, or end lies before start.
        """
        if self.start.utcoffset() is None or (
            self.end is not None and self.end.utcoffset() is None
        ):
            raise ValueError(f"interval bounds must be aware datetimes: {self!r}")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"interval ends before it starts: {self!r}")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One C-ECHO the prober sent: when, whether the device answered, and why not."""

    at: datetime
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeviceFigures:
    """The equipment figures of one device (or a fleet) over a window, in hours."""

    window_hours: float
    planned_hours: float
    down_hours: float
    unknown_hours: float
    up_hours: float
    failures: int
    availability: float | None
    mtbf_hours: float | None
    mttr_hours: float | None
    busy_hours: float
    utilization: float | None
    exams: int


def close_open(intervals: Iterable[Interval], at: datetime) -> list[Interval]:
    """The intervals with every open one ended at `at`; one opened at or after `at` is dropped."""
    closed = []
    for interval in intervals:
        if interval.end is not None:
            closed.append(interval)
        elif interval.start < at:
            closed.append(Interval(interval.start, at))
    return closed


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals sorted and merged where they overlap or touch, empty ones dropped.

    Raises:
        ValueError: an interval is open (close it with `close_open` first).
    """
    spans = sorted(_bounds(interval) for interval in intervals)
    merged: list[list[datetime]] = []
    for start, end in spans:
        if start == end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Interval(start, end) for start, end in merged]


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time that lies in both `a` and `b`, normalized.

    Raises:
        ValueError: an interval is open.
    """
    left, right = _spans(a), _spans(b)
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append(Interval(start, end))
        # The one that ends first can meet nothing further on the other side.
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time that lies in `a` but not in `b`, normalized.

    Raises:
        ValueError: an interval is open.
    """
    cuts = _spans(b)
    out = []
    j = 0
    for start, end in _spans(a):
        cursor = start
        while j < len(cuts) and cuts[j][1] <= cursor:
            j += 1
        k = j
        while k < len(cuts) and cuts[k][0] < end:
            if cuts[k][0] > cursor:
                out.append(Interval(cursor, cuts[k][0]))
            cursor = max(cursor, cuts[k][1])
            k += 1
        if cursor < end:
            out.append(Interval(cursor, end))
    return out


def clip(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    """The part of the intervals inside `window`, normalized.

    Raises:
        ValueError: an interval or the window is open.
    """
    return intersect(intervals, (window,))


def measure(intervals: Iterable[Interval]) -> timedelta:
    """The length of the time the intervals cover, overlaps counted once.

    Raises:
        ValueError: an interval is open.
    """
    return sum((end - start for start, end in _spans(intervals)), _ZERO)


def device_figures(
    window: Interval,
    *,
    observed_up: Sequence[Interval],
    observed_down: Sequence[Interval],
    planned: Sequence[Interval],
    unplanned: Sequence[Interval],
    busy: Sequence[Interval],
    exams: int,
) -> DeviceFigures:
    """The figures of one device over `window`, as the module docstring defines them.

    Raises:
        ValueError: the window or an interval is open.
    """
    whole = _length(window)
    planned_set = clip(planned, window)
    # Down before the window is kept here only to tell a new failure from a continuing one.
    down_all = subtract(union([*observed_down, *unplanned]), planned)
    down_set = clip(down_all, window)
    seen = union([*observed_up, *observed_down, *planned, *unplanned])
    unknown_set = subtract([window], seen)
    planned_td, down_td, unknown_td = (
        measure(planned_set),
        measure(down_set),
        measure(unknown_set),
    )
    up_td = whole - planned_td - down_td - unknown_td
    # P, D and K are disjoint and what else W holds is observed up: the two ways agree.
    assert up_td == measure(subtract(clip(observed_up, window), [*planned_set, *down_set]))
    failures = sum(window.start <= interval.start < _end(window) for interval in down_all)
    busy_td = measure(subtract(clip(busy, window), [*planned_set, *down_set]))
    available_td = whole - planned_td - unknown_td
    working_td = whole - planned_td - down_td
    return DeviceFigures(
        window_hours=whole / _HOUR,
        planned_hours=planned_td / _HOUR,
        down_hours=down_td / _HOUR,
        unknown_hours=unknown_td / _HOUR,
        up_hours=up_td / _HOUR,
        failures=failures,
        availability=1 - down_td / available_td if available_td else None,
        mtbf_hours=up_td / _HOUR / failures if failures else None,
        mttr_hours=down_td / _HOUR / failures if failures else None,
        busy_hours=busy_td / _HOUR,
        utilization=busy_td / working_td if working_td else None,
        exams=exams,
    )


def fleet_figures(per_device: Sequence[DeviceFigures]) -> DeviceFigures:
    """The figures of several devices together: sums, with the ratios recomputed from them."""
    window, planned, down, unknown, up, busy = (
        math.fsum(getattr(figures, name) for figures in per_device)
        for name in (
            "window_hours",
            "planned_hours",
            "down_hours",
            "unknown_hours",
            "up_hours",
            "busy_hours",
        )
    )
    failures = sum(figures.failures for figures in per_device)
    # up + down is |W| - planned - unknown, and up + unknown is |W| - planned - down, summed
    # per device; taking the parts keeps float rounding from pushing a ratio out of [0, 1].
    available = up + down
    working = up + unknown
    return DeviceFigures(
        window_hours=window,
        planned_hours=planned,
        down_hours=down,
        unknown_hours=unknown,
        up_hours=up,
        failures=failures,
        availability=1 - down / available if available else None,
        mtbf_hours=up / failures if failures else None,
        mttr_hours=down / failures if failures else None,
        busy_hours=busy,
        utilization=min(1.0, busy / working) if working else None,
        exams=sum(figures.exams for figures in per_device),
    )


def daily_windows(window: Interval, tz: tzinfo) -> list[Interval]:
    """The window cut at facility-local midnights (a DST day is 23 or 25 hours long), in UTC.

    Raises:
        ValueError: the window is open.
    """
    start, end = _bounds(window)
    days = []
    day = start.astimezone(tz).date()
    while start < end:
        day += timedelta(days=1)
        # A midnight that DST skips resolves (fold=0) to the instant the local day begins.
        midnight = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
        if midnight <= start:
            continue
        cut = min(midnight, end)
        days.append(Interval(start.astimezone(UTC), cut))
        start = cut
    return days


def down_intervals_from_probes(
    results: Sequence[ProbeResult], *, failures_to_down: int, interval: timedelta
) -> tuple[list[Interval], list[Interval]]:
    """The observed (up, down) intervals a time-ordered list of probe results shows.

    Raises:
        ValueError: results are out of order, `failures_to_down` < 1 or `interval` <= 0.
    """
    if failures_to_down < 1:
        raise ValueError(f"failures_to_down must be >= 1, not {failures_to_down}")
    if interval <= _ZERO:
        raise ValueError(f"interval must be positive, not {interval}")
    down = [False] * len(results)
    run_start: int | None = None
    for index, result in enumerate(results):
        if index and result.at < results[index - 1].at:
            raise ValueError(f"probe results out of order at {result.at.isoformat()}")
        if result.ok:
            run_start = None
            continue
        if run_start is None:
            run_start = index
        if index and down[index - 1]:  # only failures are marked down: the run goes on
            down[index] = True
        elif index - run_start + 1 == failures_to_down:
            down[run_start : index + 1] = [True] * failures_to_down
    up_spans: list[Interval] = []
    down_spans: list[Interval] = []
    for index, result in enumerate(results):
        following = results[index + 1].at if index + 1 < len(results) else None
        reach = result.at + interval
        if following is not None and following - result.at <= 2 * interval:
            reach = following
        (down_spans if down[index] else up_spans).append(Interval(result.at, reach))
    return union(up_spans), union(down_spans)


def _bounds(interval: Interval) -> tuple[datetime, datetime]:
    return interval.start, _end(interval)


def _end(interval: Interval) -> datetime:
    if interval.end is None:
        raise ValueError(f"interval starting {interval.start.isoformat()} is open: close it")
    return interval.end


def _length(interval: Interval) -> timedelta:
    return _end(interval) - interval.start


def _spans(intervals: Iterable[Interval]) -> list[tuple[datetime, datetime]]:
    return [_bounds(interval) for interval in union(intervals)]


def observed_intervals(
    sessions: Sequence[tuple[datetime, datetime]], transitions: Sequence[tuple[datetime, str]]
) -> tuple[list[Interval], list[Interval]]:
    """The prober's watched sessions split by its up/down transitions: (up, down).

    `transitions` are time-ordered (time, "up"/"down"); a session starts in the state of the
    last transition before it, "up" when there is none.
    """
    up: list[Interval] = []
    down: list[Interval] = []
    for started, until in sessions:
        state = "up"
        for at, recorded in transitions:
            if at <= started:
                state = recorded
        cursor = started
        for at, recorded in transitions:
            if started < at < until:
                (down if state == "down" else up).append(Interval(cursor, at))
                cursor, state = at, recorded
        (down if state == "down" else up).append(Interval(cursor, until))
    return up, down
