"""Opaque keyset cursors of the /api lists: the paging kit's codec (`mappers.cursor`, which
`/fhir` uses too), each part checked by its reader; a cursor that does not read is answered 400
naming `cursor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from gateway.contract.types import MAX_ROW_ID
from gateway.problems import BadRequest
from mappers.cursor import aware, decode_key, encode_key
from store.queries import SortKey

_NOT_OURS = "cursor: not a cursor this list issued"


def encode_cursor(key: Sequence[Any] | None) -> str | None:
    """The opaque cursor for a sort key; None for None (no further page)."""
    return None if key is None else encode_key(key)


def read_parts(text: str | None, readers: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, each part checked by its reader; None when absent.

    Raises:
        BadRequest: the value is not a cursor this list issued.
    """
    if text is None:
        return None
    try:
        parts = decode_key(text, len(readers))
        return tuple(read(part) for read, part in zip(readers, parts, strict=True))
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(_NOT_OURS) from None


def read_cursor(text: str | None, *, nullable_time: bool) -> SortKey | None:
    """A (time, row id) cursor; the time may be null only where the list sorts such rows.

    Raises:
        BadRequest: the value is not a cursor this API issued for such a list.
    """
    key = read_parts(text, (nullable_instant if nullable_time else instant, row_id))
    return None if key is None else (key[0], key[1])


def instant(value: Any) -> datetime:
    """An aware time."""
    return aware(value)


def nullable_instant(value: Any) -> datetime | None:
    """An aware time, or null."""
    return None if value is None else instant(value)


def text(value: Any) -> str:
    """Text without NUL (PostgreSQL text cannot hold it)."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not text")
    return value


def day(value: Any) -> str:
    """An ISO date, as text."""
    date.fromisoformat(text(value))
    return value


def row_id(value: Any) -> int:
    """A row id: a 64-bit integer >= 0."""
    if type(value) is not int or not 0 <= value <= MAX_ROW_ID:
        raise ValueError("not a row id")
    return value


def choice(allowed: Sequence[str]) -> Callable[[Any], str]:
    """A reader of one of `allowed`."""

    def read(value: Any) -> str:
        if value not in allowed:
            raise ValueError("not a known name")
        return value

    return read
