"""The `/fhir` routes: FHIR R4 read and search-type on six resource types, and `metadata`.

Thin: parse (mappers.fhir.search) -> query (store.fhir) -> build plain dicts
(mappers.fhir.resources) -> orjson. Errors are raised as `BadRequest` / `NotFound`, which the
error middleware answers as an OperationOutcome under /fhir.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from gateway.keys import ENGINE
from gateway.problems import FHIR_JSON, BadRequest, NotFound
from mappers.fhir.resources import ResourceType, to_fhir_resource, to_fhir_searchset
from mappers.fhir.search import (
    SearchError,
    encode_cursor,
    page_parameters,
    parse_search,
    to_fhir_capability_statement,
)
from store.fhir import read_resource, search_resources

routes = web.RouteTableDef()

_TYPES = {str(resource_type): resource_type for resource_type in ResourceType}


def fhir_response(resource: dict[str, Any]) -> web.Response:
    """A FHIR JSON response from a plain dict."""
    return web.Response(body=orjson.dumps(resource), content_type=FHIR_JSON)


@routes.get("/fhir/metadata")
async def capability_statement(request: web.Request) -> web.Response:
    """The CapabilityStatement: what this server reads and searches."""
    return fhir_response(to_fhir_capability_statement(_base_url(request), _software_version()))


@routes.get("/fhir/{type}")
async def search(request: web.Request) -> web.Response:
    """Search-type: a searchset Bundle with its total, self and next links.

    Raises:
        NotFound: the type is not served.
        BadRequest: a search parameter is unknown or its value bad.
    """
    resource_type = _resource_type(request)
    pairs = list(request.query.items())
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


@routes.get("/fhir/{type}/{id}")
async def read(request: web.Request) -> web.Response:
    """Read: one resource by its id (a row id).

    Raises:
        NotFound: the type is not served, or no resource has the id.
    """
    resource_type = _resource_type(request)
    text = request.match_info["id"]
    row_id = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    row = None
    if row_id is not None:
        async with request.app[ENGINE].connect() as conn:
            row = await read_resource(conn, resource_type, row_id)
    if row is None:
        raise NotFound(f"{resource_type}/{text} is not known")
    return fhir_response(to_fhir_resource(row))


def _resource_type(request: web.Request) -> ResourceType:
    name = request.match_info["type"]
    resource_type = _TYPES.get(name)
    if resource_type is None:
        raise NotFound(f"{name}: resource type not served; {', '.join(_TYPES)} are")
    return resource_type


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
