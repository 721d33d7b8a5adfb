"""The HTTP facade with a real client against a running gateway."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from fixtures.messages import orm_new_order
from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient


async def _get(url: str) -> tuple[int, str, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.content_type, await response.json(content_type=None)


async def test_an_order_sent_over_mllp_is_readable_by_accession(gateway: RunningGateway) -> None:
    """GET /api/v1/orders/{accession} shows the order, its patient, milestones and timeline."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    await client.send(orm_new_order("ACC42", control_id="M42", ordered_at="20261122083000"))
    await client.close()
    status, content_type, body = await _get(f"{gateway.http_url}/api/v1/orders/ACC42")
    assert (status, content_type) == (200, "application/json")
    assert body["accession"] == "ACC42"
    assert body["status"] == "ordered"
    assert body["patient"]["identifier"] == "MRN0001"
    assert body["milestones"] == {"ordered": "2026-11-22T08:30:00+00:00"}
    assert [(t["milestone"], t["control_id"]) for t in body["timeline"]] == [("ordered", "M42")]


async def test_an_unknown_accession_is_a_problem_json_404(gateway: RunningGateway) -> None:
    """A missing order answers 404 as application/problem+json naming what was asked."""
    status, content_type, body = await _get(f"{gateway.http_url}/api/v1/orders/NOPE")
    assert (status, content_type) == (404, "application/problem+json")
    assert body["status"] == 404 and "NOPE" in body["detail"]


async def test_an_unknown_route_is_a_problem_json_404(gateway: RunningGateway) -> None:
    """aiohttp's own 404 is answered as problem+json too."""
    status, content_type, _ = await _get(f"{gateway.http_url}/api/v1/nothing-here")
    assert (status, content_type) == (404, "application/problem+json")


async def test_health_and_readiness(gateway: RunningGateway) -> None:
    """/healthz answers ok; /readyz is 200 with the store readable and writable and every
    listener up."""
    assert (await _get(f"{gateway.http_url}/healthz"))[0] == 200
    status, _, body = await _get(f"{gateway.http_url}/readyz")
    assert status == 200
    assert body["checks"] == {"store": True, "writes": True, "mllp": True, "dicom": True}
    assert "reasons" not in body


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/orders?patient=MRN%00", "patient"),
        ("/api/v1/messages?control_id=A%00B", "control_id"),
        ("/api/v1/orders/ACC%00001", "accession"),
        ("/api/v1/devices/CT%001", "ae_title"),
        ("/fhir/Patient?identifier=MRN%00", "identifier"),
        ("/fhir/ServiceRequest?identifier=A%00", "identifier"),
        ("/fhir/ImagingStudy?identifier=1.2%00", "identifier"),
        ("/fhir/DiagnosticReport?identifier=X%00", "identifier"),
        ("/fhir/Device?identifier=CT%00", "identifier"),
        ("/fhir/Procedure?identifier=P%00", "identifier"),
    ],
)
async def test_nul_in_a_parameter_is_a_400_naming_it(
    gateway: RunningGateway, path: str, parameter: str
) -> None:
    """%00 in a path or query value: 400 naming the parameter on both stores, never a 500."""
    async with aiohttp.ClientSession() as http, http.get(gateway.http_url + path) as response:
        body = await response.json(content_type=None)
    assert response.status == 400
    detail = body["detail"] if "detail" in body else body["issue"][0]["diagnostics"]
    assert f"'{parameter}'" in detail and "NUL" in detail


async def test_an_over_long_url_is_an_expected_400_not_an_error(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL over aiohttp's 8 KB line limit: 400, one INFO line, no ERROR, no traceback, and
    nothing of the URL (it may carry patient identifiers) in the log."""
    host, port = gateway.http_url.removeprefix("http://").split(":")
    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/v1/orders?patient=MRN" + b"7" * 40000 + b" HTTP/1.1\r\n\r\n")
        status_line = await reader.readline()
        writer.close()
    assert status_line.startswith(b"HTTP/1.") and b" 400 " in status_line
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in server] == [logging.INFO]
    assert server[0].exc_info is None and "7777" not in server[0].getMessage()
