"""JSON responses through orjson: about ten times faster than the standard library's json,
and it writes datetimes as RFC 3339 with their offset."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON response from plain data and dataclasses."""
    return web.Response(
        status=status,
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        content_type="application/json",
    )
