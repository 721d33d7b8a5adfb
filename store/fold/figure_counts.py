"""Counts of the figure rows per value bucket, as the fold changes them: a figure row that
appears adds one to its bucket, one that goes or changes takes one away from its old bucket.

Each count is kept three times, per facility day, week (from Monday) and month, so that a long
window sums a few week and month rows instead of every day's (store.reading.window_days;
bench/README.md, "Issue 13: turnaround buckets"). The shell adds the rows to the stored counts
(store.flush_read_models).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from store.fold.state import Row

# A figure row's place in the counts, in the order of the stored key after span and start.
CountKey = tuple[str, date, str, str, str, int]  # figure, day, modality, priority, class, bucket
SPANS = ("day", "week", "month")


def count_key(row: Row) -> CountKey:
    """Where a figure row (store.fold.readmodels.figure_rows) is counted."""
    return (
        row["figure"],
        row["day"],
        row["modality"],
        row["priority"],
        row["patient_class"],
        row["bucket"],
    )


def count_changes(gone: Iterable[Row], put: Iterable[Row]) -> Counter[CountKey]:
    """The counts' changes when the figure rows `gone` are replaced by `put`."""
    changes: Counter[CountKey] = Counter(count_key(row) for row in put)
    changes.subtract(count_key(row) for row in gone)
    return changes


def week_start(day: date) -> date:
    """The Monday of a day's week."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    """The first day of a day's month."""
    return day.replace(day=1)


def count_rows(changes: Mapping[CountKey, int]) -> list[Row]:
    """Changes as figure_counts rows of both spans, zeros left out, in key order (the order in
    which every process takes the rows' locks, so that two batches never wait on each other
    in a circle)."""
    spans: Counter[tuple[str, date, str, str, str, str, int]] = Counter()
    for (figure, day, modality, priority, patient_class, bucket), n in changes.items():
        if n:
            for span, start in (
                ("day", day),
                ("week", week_start(day)),
                ("month", month_start(day)),
            ):
                spans[(span, start, figure, modality, priority, patient_class, bucket)] += n
    return [
        {
            "span": span,
            "start": start,
            "figure": figure,
            "modality": modality,
            "priority": priority,
            "patient_class": patient_class,
            "bucket": bucket,
            "count": n,
        }
        for (span, start, figure, modality, priority, patient_class, bucket), n in sorted(
            spans.items()
        )
        if n
    ]
