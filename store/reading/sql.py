"""SQL pieces the read modules share: bound times, epoch seconds and facility-local buckets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, case, cast, extract, func, literal

from store import figures
from store.schema import UtcDateTime


def at(instant: datetime) -> ColumnElement[datetime]:
    """A bound time that compares with stored times on both databases."""
    return literal(instant, UtcDateTime())


def epoch_seconds(dialect: str, moment: ColumnElement[datetime]) -> ColumnElement[int]:
    """Whole seconds since 1970 UTC (floored) of a stored time."""
    if dialect == "sqlite":
        # Only the text's whole seconds: SQLite rounds a fraction to the millisecond first,
        # so 12:00:01.9996 would count as 12:00:02.
        return cast(func.strftime("%s", func.substr(moment, 1, 19)), BigInteger)
    return cast(func.floor(extract("epoch", moment)), BigInteger)


def bucket(
    dialect: str,
    moment: ColumnElement[datetime],
    spans: Sequence[tuple[ColumnElement[datetime] | None, ColumnElement[int]]],
    origin_seconds: ColumnElement[int],
    interval: str,
) -> ColumnElement[int]:
    """The index of the local bucket holding `moment`: (epoch + offset - origin) // width,
    where `spans` are the zone's (until, offset in seconds) over the window, the last without
    end (store.figures.offset_spans), and `origin_seconds` the first bucket's local start in
    wall seconds (store.figures.wall_seconds); given as bound parameters, so that the
    statement is the same for every window of a shape."""
    *changes, (_, last) = spans
    offset: ColumnElement[int] = (
        case(*((moment < until, off) for until, off in changes if until is not None), else_=last)
        if changes
        else last
    )
    local = epoch_seconds(dialect, moment) + offset - origin_seconds
    return local // literal(figures.INTERVAL_SECONDS[interval], BigInteger)
