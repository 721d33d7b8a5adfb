"""The `/fhir` routes: FHIR R4 read and search-type on six resource types, and `metadata`.

Thin: parse (mappers.fhir.search) -> query (store.fhir) -> build plain dicts
(mappers.fhir.resources) -> orjson. Errors are raised as `BadRequest` / `NotFound`, which the
error middleware answers as an OperationOutcome under /fhir.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import GRANT, require_operator
from gateway.contract.fhir_parameters import (
    MAX_VALUE_LENGTH,
    search_parameters,
    served_types,
)
from gateway.contract.registry import Handler, Routes
from gateway.keys import ENGINE, SECURED
from gateway.problems import FHIR_JSON, BadRequest, NotFound
from mappers.fhir.bundle import to_fhir_searchset
from mappers.fhir.capability import to_fhir_capability_statement
from mappers.fhir.resources import to_fhir_resource
from mappers.fhir.search import (
    SearchError,
    encode_cursor,
    page_parameters,
    parse_search,
)
from mappers.fhir.vocabulary import ResourceType
from store.fhir import read_resource, search_resources

_OUTCOME: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def _resource_schema(kind: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": kind}},
    }


class ReadPath(BaseModel):
    """A resource's logical id."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="The logical id.")]


routes = Routes()


def fhir_response(resource: dict[str, Any]) -> web.Response:
    """A FHIR JSON response from a plain dict."""
    return web.Response(body=orjson.dumps(resource), content_type=FHIR_JSON)


@routes.get(
    "/fhir/metadata",
    summary="The CapabilityStatement: what this server reads and searches.",
    response=_resource_schema("CapabilityStatement"),
    content_type=FHIR_JSON,
)
async def capability_statement(request: web.Request) -> web.Response:
    """The CapabilityStatement: what this server reads and searches."""
    return fhir_response(to_fhir_capability_statement(_base_url(request), _software_version()))


def _search(resource_type: ResourceType) -> Handler:
    async def search(request: web.Request) -> web.Response:
        """Search-type: a searchset Bundle with its total, self and next links.

        Raises:
            BadRequest: a search parameter is unknown or its value bad.
        """
        if resource_type is ResourceType.AUDIT_EVENT:
            require_operator(request.get(GRANT), secured=request.app[SECURED], what="AuditEvent")
        pairs = list(request.query.items())
        for name, value in pairs:
            if len(value) > MAX_VALUE_LENGTH:
                raise BadRequest(f"{name}: longer than {MAX_VALUE_LENGTH} characters")
        try:
            query = parse_search(resource_type, pairs)
        except SearchError as exc:
            raise BadRequest(str(exc)) from exc
        async with request.app[ENGINE].connect() as conn:
            result = await search_resources(conn, query)
        base = _base_url(request)
        here = f"{base}/{resource_type}"
        this_page = request.query.get("_cursor")
        links = [("self", _url(here, page_parameters(pairs, query.count, this_page)))]
        if result.next_key is not None:
            cursor = encode_cursor(query.sort, result.next_key)
            links.append(("next", _url(here, page_parameters(pairs, query.count, cursor))))
        bundle = to_fhir_searchset(
            base,
            links,
            result.total,
            [to_fhir_resource(row) for row in result.matches],
            [to_fhir_resource(row) for row in result.included],
        )
        return fhir_response(bundle)

    search.__name__ = f"search_{resource_type}"
    return search


def _read(resource_type: ResourceType) -> Handler:
    async def read(request: web.Request, path: ReadPath) -> web.Response:
        """Read: one resource by its id (a row id).

        Raises:
            NotFound: no resource has the id.
        """
        if resource_type is ResourceType.AUDIT_EVENT:
            require_operator(request.get(GRANT), secured=request.app[SECURED], what="AuditEvent")
        text = path.id
        row_id = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
        row = None
        if row_id is not None:
            async with request.app[ENGINE].connect() as conn:
                row = await read_resource(conn, resource_type, row_id)
        if row is None:
            raise NotFound(f"{resource_type}/{text} is not known")
        return fhir_response(to_fhir_resource(row))

    read.__name__ = f"read_{resource_type}"
    return read


_SERVED = tuple(str(resource_type) for resource_type in served_types())
for _type in served_types():
    routes.get(
        f"/fhir/{_type}",
        summary=f"Search {_type}: a searchset Bundle with its total, self and next links.",
        description="A parameter repeated is AND; comma-separated values are OR.",
        parameters=search_parameters(_type),
        response=_resource_schema("Bundle"),
        content_type=FHIR_JSON,
        errors=(400, 403) if _type is ResourceType.AUDIT_EVENT else (400,),
    )(_search(_type))
    routes.get(
        f"/fhir/{_type}/{{id}}",
        summary=f"Read one {_type} by its logical id.",
        path_params=ReadPath,
        response=_resource_schema(str(_type)),
        content_type=FHIR_JSON,
        errors=(400, 403, 404) if _type is ResourceType.AUDIT_EVENT else (400, 404),
    )(_read(_type))


@web.middleware
async def unserved_types(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Name the resource type when a /fhir path matches no route: FHIR clients read it."""
    if isinstance(request.match_info.http_exception, web.HTTPNotFound):
        first = request.path.removeprefix("/fhir/").split("/")[0]
        if request.path.startswith("/fhir/") and first not in _SERVED:
            served = ", ".join(_SERVED)
            raise NotFound(f"{first}: resource type not served; {served} are")
    return await handler(request)


def _base_url(request: web.Request) -> str:
    """The service base URL as the client addressed it."""
    return f"{request.url.origin()}/fhir"


def _url(path: str, parameters: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(parameters)}"


def _software_version() -> str:
    try:
        return version("imaging-gateway")
    except PackageNotFoundError:
        return "unknown"
