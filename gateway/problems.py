"""HTTP errors as RFC 9457 problem details, from one middleware.

Hierarchy::

    HttpProblem        an error the API answers with its own status
    ├── BadRequest     400: a parameter or body the API cannot take
    ├── NotFound       404: no such resource
    └── Conflict       409: the resource's state does not allow the request
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class HttpProblem(Exception):
    """An error the API answers with its own status; carries the HTTP status it maps to."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(HttpProblem):
    """A parameter or body the API cannot take."""

    status = 400
    title = "Bad Request"


class NotFound(HttpProblem):
    """No such resource."""

    status = 404
    title = "Not Found"


class Conflict(HttpProblem):
    """The resource's state does not allow the request."""

    status = 409
    title = "Conflict"


def problem_response(status: int, title: str, detail: str, instance: str) -> web.Response:
    """A problem+json response."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return web.Response(status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn our exceptions, aiohttp's HTTP errors and anything unexpected into problem+json."""
    try:
        return await handler(request)
    except HttpProblem as problem:
        return problem_response(problem.status, problem.title, problem.detail, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(exc.status, exc.reason, exc.text or exc.reason, request.path)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "Internal Server Error", "unexpected error", request.path)
