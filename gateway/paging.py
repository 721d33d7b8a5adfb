"""Query parameters of the list routes and their opaque keyset cursors.

Every reader raises `BadRequest` with a detail that starts with the parameter's name, so a
client can tell which one to fix. A cursor is the last item's sort key, (time, id), as
base64url JSON; it is opaque to clients and only ever compared, never trusted for more.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time

import orjson
from multidict import MultiMapping

from gateway.problems import BadRequest
from store.queries import SortKey

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PAGING_PARAMETERS = frozenset(("limit", "cursor"))

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 date-time; a "+" left unescaped in a query string arrives as a space.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+\- ]\d{2}:\d{2})")


def check_names(query: MultiMapping[str], allowed: Collection[str]) -> None:
    """Refuse parameters the route does not know.

    Raises:
        BadRequest: a parameter name is not in `allowed`.
    """
    for name in query:
        if name not in allowed:
            raise BadRequest(
                f"{name}: unknown parameter; this route takes {', '.join(sorted(allowed))}"
            )


def read_one(query: MultiMapping[str], name: str) -> str | None:
    """The single non-empty value of a parameter, or None when it is absent.

    Raises:
        BadRequest: the parameter is empty or given more than once.
    """
    values = query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name}: given more than once")
    if not values[0]:
        raise BadRequest(f"{name}: empty")
    return values[0]


def read_choices(query: MultiMapping[str], name: str, allowed: Collection[str]) -> tuple[str, ...]:
    """The values of a comma-separated parameter, each one of `allowed`; () when absent.

    Raises:
        BadRequest: a value is empty or not allowed, or the parameter is given more than once.
    """
    text = read_one(query, name)
    if text is None:
        return ()
    values = tuple(dict.fromkeys(value.strip() for value in text.split(",")))
    for value in values:
        if value not in allowed:
            raise BadRequest(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return values


def read_instant(query: MultiMapping[str], name: str) -> datetime | None:
    """An RFC 3339 date-time with its offset, or a date taken as UTC midnight; None if absent.

    Raises:
        BadRequest: the value is neither.
    """
    text = read_one(query, name)
    if text is None:
        return None
    if _DATE.fullmatch(text):
        try:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        except ValueError:
            raise BadRequest(f"{name}: {text!r} is not a valid date") from None
    if _DATE_TIME.fullmatch(text.upper()):
        fixed = text[:-6] + "+" + text[-5:] if text[-6] == " " else text
        try:
            return datetime.fromisoformat(fixed.upper()).astimezone(UTC)
        except ValueError:
            pass
    raise BadRequest(
        f"{name}: {text!r} is not an RFC 3339 date-time with an offset "
        "(2026-11-22T08:30:00+01:00) or a date (2026-11-22)"
    )


def read_range(query: MultiMapping[str]) -> tuple[datetime | None, datetime | None]:
    """The `from` (inclusive) and `to` (exclusive) bounds of a time range.

    Raises:
        BadRequest: a bound is not a time, or `from` is not before `to`.
    """
    start, end = read_instant(query, "from"), read_instant(query, "to")
    if start is not None and end is not None and start >= end:
        raise BadRequest("from: must be before to")
    return start, end


def read_limit(query: MultiMapping[str]) -> int:
    """The page size: `limit`, from 1 to MAX_LIMIT, DEFAULT_LIMIT when absent.

    Raises:
        BadRequest: the value is not an integer in range.
    """
    text = read_one(query, "limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit: must be an integer from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)


def read_cursor(query: MultiMapping[str], *, nullable_time: bool) -> SortKey | None:
    """The sort key a `cursor` parameter carries, or None when absent.

    Raises:
        BadRequest: the value is not a cursor this API issued for such a list.
    """
    text = read_one(query, "cursor")
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        when, row_id = orjson.loads(raw)
        if type(row_id) is not int or (when is None and not nullable_time):
            raise ValueError("not a sort key")
        key_time = None if when is None else datetime.fromisoformat(when)
        if key_time is not None and key_time.tzinfo is None:
            raise ValueError("naive time")
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise BadRequest("cursor: not a cursor this list issued") from None
    return key_time, row_id


def encode_cursor(key: SortKey | None) -> str | None:
    """The opaque cursor for a sort key; None for None (no further page)."""
    if key is None:
        return None
    when, row_id = key
    raw = orjson.dumps([None if when is None else when.isoformat(), row_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
