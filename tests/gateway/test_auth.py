"""Bearer tokens and roles on every route; metrics and CORS; with a real HTTP client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from fixtures.messages import orm_new_order
from gateway.auth import TokensError, hash_token, is_open, load_tokens
from gateway.config import ConfigError, load_settings
from gateway.keys import DICOM_LISTENER
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient

READER, OPERATOR = "reader-token-for-tests", "operator-token-for-tests"
ORIGIN = "https://dashboard.example.org"
# Reads for the operator role only (DESIGN.md: the audit trail).
OPERATOR_READS = frozenset({"/api/v1/audit", "/fhir/AuditEvent", "/fhir/AuditEvent/1"})


@pytest.fixture
async def secured(database_url: str, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    """A gateway with a reader and an operator token, and one CORS origin."""
    path = tmp_path / "tokens.toml"
    path.write_text(
        f'[tokens.dashboard]\nrole = "reader"\nsha256 = "{hash_token(READER)}"\n'
        f'[tokens.integration]\nrole = "operator"\nsha256 = "{hash_token(OPERATOR)}"\n'
    )
    settings = gateway_settings(database_url, http={"cors_origins": (ORIGIN,)})
    running = await start_gateway(settings, load_tokens(path))
    yield running
    await running.runner.cleanup()


def _concrete(path: str) -> str:
    """A route pattern with sample values for its placeholders."""
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(gateway: RunningGateway) -> list[tuple[str, str]]:
    """Every (method, path) the application serves, with sample values filled in."""
    found = set()
    for route in gateway.app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path:
            found.add((route.method, _concrete(path)))
    return sorted(found)


async def _status(gateway: RunningGateway, method: str, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # The live stream stays open until told otherwise: ask for its first event only.
    finite = "?once=true" if path == "/api/v1/events" else ""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            gateway.http_url + path + finite,
            headers=headers,
            json={} if method != "GET" else None,
        ) as response,
    ):
        await response.read()
        return response.status


async def test_every_route_asks_for_a_token_and_honours_roles(secured: RunningGateway) -> None:
    """No token or a wrong one: 401; a reader may GET (but not the audit trail) and may not
    change (403); an operator may."""
    routes = _routes(secured)
    assert ("GET", "/api/v1/orders") in routes and ("POST", "/api/v1/messages/1/replay") in routes
    for method, path in routes:
        if is_open(path):
            # Open: answered without a token (the sample "1" names no dashboard module: 400).
            assert await _status(secured, method, path, None) in (200, 400, 503), path
            continue
        assert await _status(secured, method, path, None) == 401, (method, path)
        assert await _status(secured, method, path, "not-a-token") == 401, (method, path)
        as_reader = await _status(secured, method, path, READER)
        as_operator = await _status(secured, method, path, OPERATOR)
        if method == "GET" and path in OPERATOR_READS:
            assert as_reader == 403, (method, path)
            assert as_operator not in (401, 403) and as_operator < 500, (method, path)
        elif method == "GET":
            assert as_reader not in (401, 403) and as_reader < 500, (method, path, as_reader)
        else:
            assert as_reader == 403, (method, path)
            assert as_operator not in (401, 403) and as_operator < 500, (method, path)


async def test_errors_speak_each_apis_language(secured: RunningGateway) -> None:
    """401 is problem+json with a Bearer challenge under /api."""
    async with aiohttp.ClientSession() as http, http.get(secured.http_url + "/api/v1/orders") as r:
        assert r.status == 401
        assert r.content_type == "application/problem+json"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


async def test_metrics_count_messages_dicom_and_http(secured: RunningGateway) -> None:
    """After an HL7 message, a C-ECHO and an HTTP request, /metrics shows each."""
    client = await MllpClient.connect("127.0.0.1", secured.mllp_port)
    await client.send(orm_new_order("MET1", control_id="MET1"))
    await client.close()
    await asyncio.to_thread(Scu(secured.app[DICOM_LISTENER].port).echo)
    await _status(secured, "GET", "/api/v1/orders", READER)
    async with aiohttp.ClientSession() as http, http.get(secured.http_url + "/metrics") as r:
        text = await r.text()
    message = 'imaging_gateway_messages_total{outcome="applied",protocol="hl7v2",type="ORM^O01"}'
    assert f"{message} 1.0" in text
    assert 'imaging_gateway_dicom_operations_total{operation="C-ECHO",status="0x0000"} 1.0' in text
    request = (
        'imaging_gateway_http_requests_total{method="GET",route="/api/v1/orders",status="200"}'
    )
    assert f"{request} 1.0" in text
    assert "imaging_gateway_ack_latency_seconds_count" in text


async def test_cors_for_the_configured_origin_only(secured: RunningGateway) -> None:
    """The configured origin gets CORS headers and preflights; another origin gets none."""
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    async with aiohttp.ClientSession() as http:
        async with http.options(secured.http_url + "/api/v1/orders", headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        headers = {"Origin": "https://elsewhere.example", "Authorization": f"Bearer {READER}"}
        async with http.get(secured.http_url + "/api/v1/orders", headers=headers) as r:
            assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_a_network_bind_without_tokens_stops_start_up() -> None:
    """Binding HTTP beyond loopback with no tokens file is refused, naming both settings."""
    with pytest.raises(ConfigError, match=r"IMAGING_GW_HTTP_HOST.*IMAGING_GW_TOKENS_FILE"):
        load_settings({"IMAGING_GW_HTTP_HOST": "0.0.0.0"})
    assert load_settings({"IMAGING_GW_HTTP_HOST": "::1"}).http.host == "::1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no [tokens.NAME] entries"),
        ('[tokens.x]\nrole = "admin"\nsha256 = "' + "0" * 64 + '"', "role must be"),
        ('[tokens.x]\nrole = "reader"\nsha256 = "plaintext"', "64 hex digits"),
    ],
)
def test_a_bad_tokens_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    """A tokens file without entries, with an unknown role or a plaintext token is refused."""
    path = tmp_path / "tokens.toml"
    path.write_text(content)
    with pytest.raises(TokensError) as refused:
        load_tokens(path)
    assert message in str(refused.value)
