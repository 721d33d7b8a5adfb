"""Parameter types the routes share; each carries its limits, so the document states them.

Strings refuse NUL: PostgreSQL text cannot hold it, and the pattern keeps generators from
offering it as valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_ROW_ID = 2**63 - 1
NO_NUL = r"^[^\x00]+$"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 date-time; a "+" left unescaped in a query string arrives as a space.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+\- ]\d{2}:\d{2})")


def _digits(value: Any) -> Any:
    """Refuse text that is not plain decimal digits (no sign, space, point or underscore)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(f"{value!r} is not a whole number")
    return value


# Identifiers (accession numbers, codes, AE titles, control ids) are short; the bound keeps
# every request line within the server's limit (REQUEST_LIMITS).
Text = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
# A group's value as the figures show it: empty names the group where none was recorded.
GroupValue = Annotated[str, Field(max_length=128, pattern=r"^[^\x00]*$")]
# Constraints first: a validator before them would hide them from the JSON Schema.
RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID), BeforeValidator(_digits)]
Limit = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_LIMIT,
        description=f"Items per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    ),
    BeforeValidator(_digits),
]
_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,512}$"
Cursor = Annotated[
    str,
    Field(
        pattern=_CURSOR_PATTERN,
        description="The next_cursor of the previous page (opaque base64url); a cursor this "
        "list did not issue is answered 400.",
    ),
]


def to_utc(moment: datetime) -> datetime:
    """An aware time in UTC; the ends of the calendar are kept rather than overflowing."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def parse_instant(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset, or a date taken as UTC midnight.

    Raises:
        ValueError: the text is neither.
    """
    if isinstance(value, datetime):
        return value
    text = str(value)
    if _DATE.fullmatch(text):
        try:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date") from None
    if _DATE_TIME.fullmatch(text.upper()):
        fixed = text[:-6] + "+" + text[-5:] if text[-6] == " " else text
        # RFC 3339 allows year 0000 and a leap second; Python has neither: the nearest instant.
        fixed = "0001" + fixed[4:] if fixed.startswith("0000") else fixed
        fixed = fixed[:17] + "59" + fixed[19:] if fixed[17:19] == "60" else fixed
        whole, dot, rest = fixed.upper().partition(".")
        if dot:  # Python reads at most microseconds: cut finer fractions
            digits = re.match(r"\d+", rest)
            assert digits is not None
            whole = f"{whole}.{digits[0][:6]}{rest[digits.end() :]}"
        try:
            return to_utc(datetime.fromisoformat(whole))
        except ValueError:
            pass
    raise ValueError(
        f"{text!r} is not an RFC 3339 date-time with an offset "
        "(2026-11-22T08:30:00+01:00) or a date (2026-11-22)"
    )


Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ]
        }
    ),
]


def choices(allowed: Sequence[str], what: str) -> Any:
    """A comma-separated list of names among `allowed`, read as a tuple without repeats."""
    one = "(" + "|".join(re.escape(name) for name in allowed) + ")"

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
        for name in names:
            if name not in allowed:
                raise ValueError(f"{name!r} is not one of {', '.join(allowed)}")
        return names

    return Annotated[
        tuple[str, ...],
        BeforeValidator(read),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": f"^{one}(,{one})*$",
                "description": f"{what}, comma-separated: {', '.join(allowed)}",
            }
        ),
    ]


def one_of(allowed: Sequence[str]) -> Any:
    """One name among `allowed`."""

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(allowed)})
    ]
