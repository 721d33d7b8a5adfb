"""NUL is not a value: a path or query parameter holding one is refused with 400 at the door.

PostgreSQL text cannot hold NUL, and SQLite can; refusing it before any handler runs gives the
same answer on both stores, naming the parameter, instead of a 500 from the driver.
"""

from __future__ import annotations

from aiohttp import web

from gateway.problems import BadRequest, Handler


@web.middleware
async def nul_guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a request whose path or query parameters contain NUL (%00), naming the first."""
    for where, values in (("path", request.match_info), ("query", request.query)):
        for name, value in values.items():
            if "\x00" in value or "\x00" in name:
                shown = name.replace("\x00", "%00")
                raise BadRequest(f"{where} parameter {shown!r} contains NUL (%00), not allowed")
    return await handler(request)
