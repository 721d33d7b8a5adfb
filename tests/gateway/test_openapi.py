"""/openapi.json is generated from the route registry: every route, its limits, its security."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from gateway.app import create_app
from gateway.auth import Role, Token, hash_token, is_open
from gateway.config import load_settings
from gateway.contract.document import document
from gateway.keys import ROUTES
from tests.conftest import RunningGateway, gateway_settings, start_gateway

READER = {hash_token("reader-token"): Token("dashboard", Role.READER)}


def _spec(*, secured: bool) -> dict[str, Any]:
    return document(create_app(load_settings({}))[ROUTES], secured=secured)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def _parameter(spec: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    (found,) = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
    return found


async def test_every_route_is_described_and_nothing_else(gateway: RunningGateway) -> None:
    """The document lists exactly the routes the application serves, every method of each."""
    served = {
        (route.method, route.resource.canonical)
        for route in gateway.app.router.routes()
        if route.resource is not None
    }
    described = {(method, path) for method, path, _ in _operations(_spec(secured=False))}
    assert described == served
    assert ("GET", "/fhir/ServiceRequest") in described
    assert ("PUT", "/api/v1/devices/{ae_title}") in described


def test_parameters_state_their_limits() -> None:
    """Page sizes, cursors, windows, AE titles and FHIR counts carry their limits."""
    spec = _spec(secured=False)
    limit = _parameter(spec, "/api/v1/orders", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    assert _parameter(spec, "/api/v1/orders", "cursor")["schema"]["pattern"]
    assert "before" in _parameter(spec, "/api/v1/messages", "from")["description"]
    assert "366 days" in _parameter(spec, "/api/v1/flow/turnaround", "from")["description"]
    assert "31 days by hour" in _parameter(spec, "/api/v1/flow/volumes", "from")["description"]
    ae_title = _parameter(spec, "/api/v1/devices/{ae_title}", "ae_title")["schema"]
    assert ae_title["maxLength"] == 16 and "\\\\" in ae_title["pattern"]
    message_id = _parameter(spec, "/api/v1/messages/{id}", "id")["schema"]
    assert (message_id["minimum"], message_id["maximum"]) == (0, 2**63 - 1)
    assert _parameter(spec, "/fhir/ServiceRequest", "_count")["schema"]["pattern"]
    body = spec["paths"]["/api/v1/devices/{ae_title}"]["put"]["requestBody"]
    registration = body["content"]["application/json"]["schema"]
    assert registration["properties"]["port"]["anyOf"][0]["maximum"] == 65535
    assert registration["then"]["required"] == ["host", "port"]  # monitored needs an address


def test_no_string_parameter_takes_nul() -> None:
    """Every string parameter is bounded by a pattern or an enum, and none matches NUL."""
    for method, path, operation in _operations(_spec(secured=False)):
        for parameter in operation["parameters"]:
            schema = parameter["schema"]
            branches = schema.get("anyOf", [schema])
            for branch in branches:
                if branch.get("type") != "string" or "format" in branch:
                    continue
                assert "pattern" in branch or "enum" in branch, (method, path, parameter)
                if "pattern" in branch:
                    pattern = re.compile(branch["pattern"])
                    for text in ("\x00", "A\x00", "CT\x001"):
                        assert not pattern.search(text), (path, parameter["name"], text)


def test_security_is_stated_as_served() -> None:
    """Open without a tokens file: no security anywhere; with one, bearer on guarded routes
    with 401, and 403 where a reader's token is not enough."""
    open_spec = _spec(secured=False)
    assert "securitySchemes" not in open_spec["components"]
    for _method, _path, operation in _operations(open_spec):
        assert operation["security"] == []
        assert "401" not in operation["responses"] and "403" not in operation["responses"]
    secured = _spec(secured=True)
    assert secured["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, operation in _operations(secured):
        if is_open(path):
            assert operation["security"] == [] and "401" not in operation["responses"]
            continue
        assert operation["security"] == [{"bearer": []}], path
        assert "401" in operation["responses"], path
        operator_read = path in ("/api/v1/audit", "/fhir/AuditEvent", "/fhir/AuditEvent/{id}")
        expected = method != "GET" or operator_read
        assert ("403" in operation["responses"]) == expected, (method, path)


async def test_an_unserved_method_is_405_with_allow(database_url: str) -> None:
    """405 names the methods served in Allow, also with tokens and without one."""
    running = await start_gateway(gateway_settings(database_url), READER)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{running.http_url}/api/v1/devices/CT01"
            async with http.delete(url) as response:
                assert response.status == 405
                assert set(response.headers["Allow"].split(",")) == {"GET", "PUT"}
                assert response.content_type == "application/problem+json"
            async with http.get(url) as response:
                assert response.status == 401
    finally:
        await running.runner.cleanup()


async def test_a_bad_parameter_names_itself_in_problem_json(gateway: RunningGateway) -> None:
    """A value the model refuses is a 400 problem+json whose detail starts with its name."""
    async with aiohttp.ClientSession() as http:
        url = f"{gateway.http_url}/api/v1/devices/A%5CB"
        async with http.get(url) as response:
            body = await response.json(content_type=None)
    assert response.status == 400 and body["detail"].startswith("ae_title:")
