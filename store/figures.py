"""Pure rules of the patient-flow figures (DESIGN.md): intervals, goals, percentiles, buckets.

- A figure is the time from one order milestone to another, in minutes, where both exist.
- A goal key is "figure/modality/priority/patient_class" with "*" matching anything. The goal
  that applies to an order is the most specific one that matches it (fewest "*"); among
  equally specific ones, the first in sorted key order.
- Percentiles interpolate linearly between the two nearest ranks, h = (n - 1) * p: the same
  rule as PostgreSQL's percentile_cont and NumPy's default ("linear"). The fraction of h is
  taken exactly (p is a whole percent), so the SQL in `store.reading.turnaround` gives the
  same floats.
- Time buckets are facility-local wall-clock hours, days or ISO weeks (from Monday).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# figure -> (start, end): order columns, in the order the API lists them.
FIGURES: Mapping[str, tuple[str, str]] = {
    "access": ("ordered_at", "exam_started_at"),
    "wait": ("arrived_at", "exam_started_at"),
    "start_delay": ("scheduled_start", "exam_started_at"),
    "exam_duration": ("exam_started_at", "exam_completed_at"),
    "report_turnaround": ("exam_completed_at", "final_report_at"),
    "preliminary_turnaround": ("exam_completed_at", "preliminary_report_at"),
    "total_turnaround": ("ordered_at", "final_report_at"),
}
PERCENTILES = (50, 90, 95)
INTERVAL_SECONDS: Mapping[str, int] = {"hour": 3600, "day": 86400, "week": 7 * 86400}
_EPOCH = datetime(1970, 1, 1)  # naive: wall-clock arithmetic
_GOAL_PARTS = ("modality", "priority", "patient_class")


def percentile(values: Sequence[float], percent: int) -> float:
    """The `percent`-th percentile (0-100) of `values`, linear between the nearest ranks.

    Raises:
        ValueError: `values` is empty or `percent` is not within 0-100.
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent {percent} is not within 0-100")
    ordered = sorted(values)
    low, rest = divmod((len(ordered) - 1) * percent, 100)
    a = ordered[low]
    b = ordered[low + 1] if rest else a
    return a + (b - a) * (rest / 100)


@dataclass(frozen=True, slots=True)
class GoalRule:
    """One goal of a figure; None in a part is the "*" that matches anything."""

    key: str
    modality: str | None
    priority: str | None
    patient_class: str | None
    minutes: float

    def matches(self, modality: str, priority: str, patient_class: str) -> bool:
        """Tell whether this goal applies to an order with these attributes."""
        return all(
            want is None or want == have
            for want, have in zip(
                (self.modality, self.priority, self.patient_class),
                (modality, priority, patient_class),
                strict=True,
            )
        )


def goal_rules(goals: Mapping[str, float], figure: str) -> tuple[GoalRule, ...]:
    """The goals of one figure in the order they apply: fewest "*" first, then by key.

    Raises:
        ValueError: a key is not "figure/modality/priority/patient_class".
    """
    rules = []
    for key, minutes in goals.items():
        parts = key.split("/")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"goal key {key!r} is not figure/modality/priority/patient_class")
        if parts[0] != figure:
            continue
        wanted = [None if part == "*" else part for part in parts[1:]]
        rules.append(GoalRule(key, *wanted, minutes=float(minutes)))
    return tuple(sorted(rules, key=lambda rule: (_wildcards(rule), rule.key)))


def goal_for(
    goals: Mapping[str, float], figure: str, modality: str, priority: str, patient_class: str
) -> float | None:
    """The goal in minutes that applies to one order's figure, or None when none matches."""
    for rule in goal_rules(goals, figure):
        if rule.matches(modality, priority, patient_class):
            return rule.minutes
    return None


def _wildcards(rule: GoalRule) -> int:
    return sum(getattr(rule, part) is None for part in _GOAL_PARTS)


def bucket_origin(start: datetime, tz: ZoneInfo, interval: str) -> datetime:
    """The local wall time (naive) at which the bucket holding instant `start` begins."""
    local = start.astimezone(tz).replace(tzinfo=None)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(local.date(), time())
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"unknown interval {interval!r}")


def wall_seconds(wall: datetime) -> int:
    """Seconds from 1970-01-01 00:00 to a naive wall-clock time (calendar arithmetic)."""
    return (wall - _EPOCH) // timedelta(seconds=1)


def bucket_start(origin: datetime, index: int, interval: str, tz: ZoneInfo) -> datetime:
    """The aware local start of bucket `index` counted from the wall time `origin`."""
    wall = origin + timedelta(seconds=index * INTERVAL_SECONDS[interval])
    return wall.replace(tzinfo=tz)


def bucket_index(origin: datetime, wall: datetime, interval: str) -> int:
    """The index of the bucket that starts at wall time `wall`, counted from `origin`."""
    return (wall_seconds(wall) - wall_seconds(origin)) // INTERVAL_SECONDS[interval]


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The facility-local date of an instant."""
    return instant.astimezone(tz).date()


def offset_spans(
    tz: ZoneInfo, start: datetime, end: datetime
) -> tuple[tuple[datetime | None, int], ...]:
    """The zone's UTC offset in seconds over [start, end) as (until, offset), until None last."""
    # At most one change per hour, as in every zone: found hour by hour, then by bisection.
    step = timedelta(hours=1)
    at = start.astimezone(UTC).replace(microsecond=0)
    offset = _offset(tz, at)
    spans: list[tuple[datetime | None, int]] = []
    while at < end:
        following = min(at + step, end)
        changed = _offset(tz, following)
        if changed != offset:
            low, high = at, following  # offset(low) is the old one, offset(high) the new
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) // 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if _offset(tz, middle) == offset:
                    low = middle
                else:
                    high = middle
            spans.append((high, offset))
            offset = changed
        at = following
    spans.append((None, offset))
    return tuple(spans)


def _offset(tz: ZoneInfo, instant: datetime) -> int:
    delta = instant.astimezone(tz).utcoffset()
    return 0 if delta is None else int(delta.total_seconds())
