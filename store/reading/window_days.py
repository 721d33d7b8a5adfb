"""Which counts a read of a window of END times adds and takes away, and which stretches it
reads from the figure rows themselves.

The counts are kept per facility day, week (from Monday) and month (store.fold.figure_counts);
a count holds every figure row whose facility-local date falls in its span. A window
[start, end) is read as

- its whole days, as a sum of day, week and month counts, some added and some taken away:
  the cheapest such sum (a shortest path from the first whole day to the end of the last, each
  span a step forwards to add it or backwards to take it away, priced by how many count rows
  it has: about as many for a week or a month as for a day at a busy department, none for a
  span that begins after today);
- its part days at the edges from the figure rows by END time; a part day whose remainder
  outside the window is the shorter stretch is read instead as a whole day minus the rows of
  that remainder (a window that ends now takes away the rest of today, which holds no rows).

So the last 30 days are four weeks and a day or two, the last year a handful of months and
weeks; the price only chooses the sum, every sum gives the same exact counts.

A day is counted only when its instants are exactly those between its local midnight and the
next, each of which happens once: a day whose midnight a change of UTC offset skips or repeats
(in zones that change at midnight) is read from the rows, as is a window at the calendar's ends.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SPANS = ("day", "week", "month")
# Count rows per span relative to a day's, measured on the benchmark's department (1,000,000
# orders in 90 days: 10,600 a day, 16,700 a week, 17,500 a month); a span that begins after
# today has none.
_PRICE = {"day": 1.0, "week": 1.6, "month": 1.7}
_FUTURE = 0.01
_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_REACH = 35  # days a sum may reach beyond the whole days, to take away what it overshoots

Count = tuple[str, date, int]  # span, its first day, +1 to add or -1 to take away


@dataclass(frozen=True, slots=True)
class WindowParts:
    """A window as counts added and taken away, and stretches of figure rows."""

    counts: tuple[Count, ...]
    rows: tuple[tuple[datetime, datetime, int], ...]  # [from, to) of figure rows, +1 or -1


def rows_only(start: datetime, end: datetime) -> WindowParts:
    """The window read from the figure rows alone."""
    return WindowParts((), ((start, end, 1),) if start < end else ())


def window_parts(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    *,
    spans: tuple[str, ...] = SPANS,
    today: date | None = None,
) -> WindowParts:
    """How to read [start, end) in the facility's days, with counts of `spans` only (a day
    count always); `today` (the facility's, by default from the clock) prices the sum."""
    if start >= end:
        return WindowParts((), ())
    try:
        first = start.astimezone(tz).date()
        last = (end - _TICK).astimezone(tz).date()
        days = range((last - first).days + 2)
        midnights = [midnight(first + timedelta(days=n), tz) for n in days]
    except (OverflowError, ValueError):
        return rows_only(start, end)
    counted: list[tuple[date, datetime, datetime]] = []
    taken_away: list[tuple[datetime, datetime, int]] = []
    for n, (begin, finish) in enumerate(itertools.pairwise(midnights)):
        if begin is None or finish is None:
            continue
        inside = min(finish, end) - max(begin, start)
        if inside == finish - begin or (finish - begin) - inside < inside:
            counted.append((first + timedelta(days=n), begin, finish))
            taken_away += [(begin, start, -1)] if begin < start else []
            taken_away += [(end, finish, -1)] if end < finish else []
    rows = _gaps(start, end, [(begin, finish) for _, begin, finish in counted])
    today = today or datetime.now(UTC).astimezone(tz).date()
    counts: list[Count] = []
    for low, high in _runs([day for day, _, _ in counted]):
        try:
            counts += _cheapest_sum(low, high, spans, today)
        except (OverflowError, ValueError):  # a sum reaching past the calendar: days only
            counts += [("day", low + timedelta(days=n), 1) for n in range((high - low).days)]
    return WindowParts(tuple(counts), tuple(rows + taken_away))


def midnight(day: date, tz: ZoneInfo) -> datetime | None:
    """The instant a day begins, or None when a change of offset skips or repeats it."""
    first = datetime.combine(day, time(), tz)
    at = first.astimezone(UTC)
    if first.replace(fold=1).astimezone(UTC) != at:
        return None
    if at.astimezone(tz).date() != day or (at - _TICK).astimezone(tz).date() != day - _DAY:
        return None
    return at


def _gaps(
    start: datetime, end: datetime, covered: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, int]]:
    """The stretches of [start, end) outside the covered ones (in order, not overlapping)."""
    gaps = []
    at = start
    for begin, finish in covered:
        if at < begin:
            gaps.append((at, min(begin, end), 1))
        at = max(at, finish)
    if at < end:
        gaps.append((at, end, 1))
    return gaps


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as [first, end) runs."""
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][1] == day:
            runs[-1][1] = day + _DAY
        else:
            runs.append([day, day + _DAY])
    return [(low, high) for low, high in runs]


def _cheapest_sum(low: date, high: date, spans: tuple[str, ...], today: date) -> list[Count]:
    """The cheapest counts whose sum counts the days [low, high) once and no other day: the
    shortest path from `low` to `high` over day boundaries, each span an edge between its
    first day and the day after its last, walked forwards to add it, backwards to take it
    away."""
    edges: dict[date, list[tuple[date, str, date, int]]] = {}  # day -> (next, span, start, sign)
    floor, ceiling = low - timedelta(days=_REACH), high + timedelta(days=_REACH)
    day = floor
    while day < ceiling:
        starts = [("day", day)]
        if "week" in spans and day.weekday() == 0:
            starts.append(("week", day))
        if "month" in spans and day.day == 1:
            starts.append(("month", day))
        for span, first in starts:
            after = _span_end(span, first)
            edges.setdefault(first, []).append((after, span, first, 1))
            edges.setdefault(after, []).append((first, span, first, -1))
        day += _DAY
    best: dict[date, float] = {low: 0.0}
    came: dict[date, tuple[date, str, date, int]] = {}
    queue: list[tuple[float, date]] = [(0.0, low)]
    while queue:
        cost, at = heapq.heappop(queue)
        if at == high:
            break
        if cost > best.get(at, float("inf")):
            continue
        for after, span, first, sign in edges.get(at, ()):
            if not floor <= after <= ceiling:
                continue
            price = _FUTURE if first > today else _PRICE[span]
            if cost + price < best.get(after, float("inf")):
                best[after] = cost + price
                came[after] = (at, span, first, sign)
                heapq.heappush(queue, (cost + price, after))
    path: list[Count] = []
    at = high
    while at != low:
        before, span, first, sign = came[at]
        path.append((span, first, sign))
        at = before
    return sorted(path)


def _span_end(span: str, first: date) -> date:
    """The day after a span's last."""
    if span == "day":
        return first + _DAY
    if span == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
