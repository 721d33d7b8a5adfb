"""HTTP errors from one middleware: RFC 9457 problem details under /api, FHIR
OperationOutcome under /fhir.

Hierarchy::

    HttpProblem        an error the API answers with its own status
    ├── BadRequest     400: a parameter or body the API cannot take
    ├── Unauthorized   401: no bearer token, or one we do not know
    ├── Forbidden      403: the token's role does not allow the request
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


class Unauthorized(HttpProblem):
    """No bearer token, or one we do not know."""

    status = 401
    title = "Unauthorized"


class Forbidden(HttpProblem):
    """The token's role does not allow the request."""

    status = 403
    title = "Forbidden"


class NotFound(HttpProblem):
    """No such resource."""

    status = 404
    title = "Not Found"


class Conflict(HttpProblem):
    """The resource's state does not allow the request."""

    status = 409
    title = "Conflict"


FHIR_JSON = "application/fhir+json"

# OperationOutcome issue codes (FHIR R4 value set issue-type) by HTTP status.
_FHIR_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    405: "not-supported",
}


def operation_outcome(status: int, detail: str) -> web.Response:
    """A FHIR R4 OperationOutcome with one error issue."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error" if status < 500 else "fatal",
                "code": _FHIR_ISSUE_CODES.get(status, "exception"),
                "diagnostics": detail,
            }
        ],
    }
    return web.Response(status=status, body=orjson.dumps(body), content_type=FHIR_JSON)


def error_response(status: int, title: str, detail: str, path: str) -> web.Response:
    """The error in the form its API speaks: OperationOutcome under /fhir, else problem+json."""
    if path == "/fhir" or path.startswith("/fhir/"):
        return operation_outcome(status, detail)
    return problem_response(status, title, detail, path)


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
        response = error_response(problem.status, problem.title, problem.detail, request.path)
        if problem.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="imaging-gateway"'
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.reason, exc.text or exc.reason, request.path)
        if "Allow" in exc.headers:  # RFC 9110 15.5.6: a 405 says which methods are served
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal Server Error", "unexpected error", request.path)
