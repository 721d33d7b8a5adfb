"""The route registry: each route declared once with its models; requests validated against them.

A handler receives what it declared, already validated: `query`, `path` and `body` keyword
arguments. A refused request is a `BadRequest` whose detail starts with the parameter's name,
which the error middleware answers as problem+json (or OperationOutcome under /fhir).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from gateway.problems import BadRequest

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One method on one path: what it takes, what it answers, and its handler."""

    method: str
    path: str  # as OpenAPI writes it: /api/v1/messages/{id}
    handler: Handler
    summary: str
    description: str = ""
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None  # a type pydantic can describe, or a JSON Schema mapping
    status: int = 200
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    # Parameters documented as given (FHIR search reads its own table).
    parameters: tuple[Mapping[str, Any], ...] = ()
    links: Mapping[str, Any] = field(default_factory=dict)
    repeatable: frozenset[str] = frozenset()  # query names that may be given more than once


class Routes:
    """A table of routes, filled by decorators as aiohttp's RouteTableDef is."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def _add(self, method: str, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, **declared))
            return handler

        return register

    def get(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        """Declare a GET route."""
        return self._add("GET", path, **declared)

    def post(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        """Declare a POST route."""
        return self._add("POST", path, **declared)

    def put(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        """Declare a PUT route."""
        return self._add("PUT", path, **declared)

    def patch(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        """Declare a PATCH route."""
        return self._add("PATCH", path, **declared)


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Register each route's validating endpoint with aiohttp (no implicit HEAD: the document
    lists exactly the methods served)."""
    for route in routes:
        app.router.add_route(route.method, route.path, _endpoint(route))


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        given: dict[str, Any] = {}
        if route.path_params is not None:
            given["path"] = validate(route.path_params, dict(request.match_info))
        if route.query is not None:
            given["query"] = read_query(route.query, request.query, route.repeatable)
        if route.body is not None:
            given["body"] = read_body(route.body, await request.read())
        return await route.handler(request, **given)

    endpoint.__name__ = route.handler.__name__
    return endpoint


def read_query(
    model: type[BaseModel], query: MultiMapping[str], repeatable: frozenset[str] = frozenset()
) -> BaseModel:
    """The query string as `model`; a name given twice is refused unless it is repeatable.

    Raises:
        BadRequest: a parameter is unknown, repeated or invalid (the detail names it).
    """
    data: dict[str, str] = {}
    for name in dict.fromkeys(query):
        values = query.getall(name)
        if name in repeatable:
            data[name] = ",".join(values)
        elif len(values) > 1:
            raise BadRequest(f"{name}: given more than once")
        else:
            data[name] = values[0]
    return validate(model, data)


def read_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    """A JSON object body as `model`.

    Raises:
        BadRequest: the body is not a JSON object, or a field is unknown or invalid.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("body: not JSON; expected a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("body: expected a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(explain(exc, model)) from None


def validate(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
    """`data` as `model`.

    Raises:
        BadRequest: a value is unknown or invalid (the detail names it).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(explain(exc, model)) from None


def explain(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line for the first error, starting with the name of what was refused."""
    error = exc.errors()[0]
    loc = error["loc"]
    name = str(loc[0]) if loc else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        takes = sorted(info.alias or key for key, info in model.model_fields.items())
        return f"{name}: unknown parameter; this takes {', '.join(takes) or 'none'}"
    if error["type"] == "missing":
        return f"{name}: required"
    if not name:
        return message  # a rule across fields words its own detail, naming the first
    return f"{name}: {message}"
