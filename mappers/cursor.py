"""The paging kit's opaque cursor, for every list of `/api` and every search of `/fhir`.

A cursor is the last item's sort key as base64url JSON (times as ISO 8601 text); it is opaque
to clients and only ever compared, never trusted for more: each door checks every part it
reads back (`gateway.paging`, `mappers.fhir.search`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson


def encode_key(key: Sequence[Any]) -> str:
    """The opaque cursor of a sort key."""
    parts = [part.isoformat() if isinstance(part, datetime | date) else part for part in key]
    return base64.urlsafe_b64encode(orjson.dumps(parts)).rstrip(b"=").decode("ascii")


def decode_key(text: str, length: int) -> list[Any]:
    """The parts of a sort key a cursor carries, unchecked but for their number.

    Raises:
        ValueError: the text is not a cursor of `length` parts.
    """
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as error:
        raise ValueError("not a cursor") from error
    if not isinstance(parts, list) or len(parts) != length:
        raise ValueError("not a sort key of this length")
    return parts


def aware(value: Any) -> datetime:
    """An aware time read back from a cursor.

    Raises:
        ValueError: the part is not an ISO time with an offset.
        TypeError: the part is not text.
    """
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment
