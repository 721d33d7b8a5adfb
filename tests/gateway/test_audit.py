"""The audit trail: who read which patient data, or changed what, through /api and /fhir;
listed for the operator role, through the one writer, apart from the message log."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import func, select

from fixtures.messages import orm_new_order
from gateway.audit_trail import audited_entity
from gateway.auth import Role, Token, hash_token
from store.schema import audit_events, messages
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.mllp_client import MllpClient

READER, OPERATOR = "reader-secret", "operator-secret"


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[RunningGateway]:
    """A gateway with a reader token (dashboard) and an operator token (integration)."""
    tokens = {
        hash_token(READER): Token("dashboard", Role.READER),
        hash_token(OPERATOR): Token("integration", Role.OPERATOR),
    }
    running = await start_gateway(gateway_settings(database_url), tokens)
    try:
        yield running
    finally:
        await running.runner.cleanup()


async def _call(
    gateway: RunningGateway, method: str, path: str, token: str | None, json: object = None
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, gateway.http_url + path, json=json) as response,
    ):
        body = await response.json(content_type=None) if response.content_length else {}
        return response.status, body


async def test_reads_and_changes_are_recorded_with_who_what_and_the_answer(
    secured: RunningGateway,
) -> None:
    """A reader's order search and FHIR Patient search, and an operator's device change, are
    in the trail with actor, role, query and status; figures and reads of the trail are not;
    no read reaches the message log."""
    client = await MllpClient.connect("127.0.0.1", secured.mllp_port)
    await client.send(orm_new_order("AUD1", control_id="AUD1", patient_id="MRN7001"))
    await client.close()

    assert (await _call(secured, "GET", "/api/v1/orders?patient=MRN7001", READER))[0] == 200
    assert (await _call(secured, "GET", "/fhir/Patient?identifier=MRN7001", READER))[0] == 200
    assert (await _call(secured, "GET", "/api/v1/flow/turnaround", READER))[0] == 200
    device = {"host": "127.0.0.1", "port": 104, "modality": "CT", "monitored": False}
    changed, _ = await _call(secured, "PUT", "/api/v1/devices/CT09", OPERATOR, device)
    assert changed in (200, 201)
    assert (await _call(secured, "GET", "/api/v1/audit", READER))[0] == 403

    status, trail = await _call(secured, "GET", "/api/v1/audit?limit=50", OPERATOR)
    assert status == 200
    seen = [
        (e["actor"], e["role"], e["action"], e["entity"], e["method"], e["query"], e["status"])
        for e in reversed(trail["items"])
    ]
    assert seen == [
        ("dashboard", "reader", "read", "orders", "GET", "patient=MRN7001", 200),
        ("dashboard", "reader", "read", "Patient", "GET", "identifier=MRN7001", 200),
        ("integration", "operator", "change", "devices", "PUT", "", changed),
    ]
    assert all(e["peer"] and e["recorded_at"] for e in trail["items"])
    async with secured.engine.connect() as conn:
        logged = (await conn.execute(select(func.count()).select_from(messages))).scalar()
        recorded = (await conn.execute(select(func.count()).select_from(audit_events))).scalar()
    # Reads of the trail itself (the reader's 403, the operator's list) are not in it; the
    # message log has the order and the device change (operator actions go through the
    # writer as messages), and no read.
    assert (logged, recorded) == (2, 3)


async def test_without_tokens_reads_are_recorded_as_the_open_api(gateway: RunningGateway) -> None:
    """The open, loopback-only API records reads too, with no actor."""
    assert (await _call(gateway, "GET", "/api/v1/orders/NOPE", None))[0] == 404
    _, trail = await _call(gateway, "GET", "/api/v1/audit", None)
    (first, *_) = reversed(trail["items"])
    assert (first["actor"], first["entity"], first["path"], first["status"]) == (
        "",
        "orders",
        "/api/v1/orders/NOPE",
        404,
    )


@pytest.mark.parametrize(
    ("method", "path", "entity"),
    [
        ("GET", "/api/v1/orders", "orders"),
        ("GET", "/api/v1/messages/12", "messages"),
        ("POST", "/api/v1/messages/12/replay", "messages"),
        ("GET", "/api/v1/flow/board", "board"),
        ("GET", "/api/v1/flow/turnaround/orders", "orders"),
        ("GET", "/api/v1/unmatched", "unmatched"),
        ("POST", "/api/v1/unmatched/study/3/link", "unmatched"),
        ("PUT", "/api/v1/devices/CT01", "devices"),
        ("GET", "/fhir/DiagnosticReport", "DiagnosticReport"),
        ("GET", "/fhir/Patient/7", "Patient"),
        ("GET", "/api/v1/audit", None),
        ("GET", "/fhir/AuditEvent", None),
        ("GET", "/api/v1/flow/turnaround", None),
        ("GET", "/api/v1/devices", None),
        ("GET", "/fhir/metadata", None),
        ("GET", "/fhir/Device", None),
        ("GET", "/healthz", None),
    ],
)
def test_what_the_trail_records(method: str, path: str, entity: str | None) -> None:
    """Patient data and every change are recorded; figures, devices and probes are not."""
    assert audited_entity(method, path) == entity


def test_the_trail_is_kept_apart_from_the_message_log() -> None:
    """Its own table, not rows of the message log."""
    assert audit_events.name != messages.name
    assert "raw" not in audit_events.c


async def test_the_trail_is_served_as_fhir_audit_events(secured: RunningGateway) -> None:
    """/fhir/AuditEvent: the operator's searchset of R4 AuditEvents, each valid by the R4B
    model, naming the agent, the call and its outcome; a reader gets 403."""
    assert (await _call(secured, "GET", "/api/v1/orders?patient=MRN42", READER))[0] == 200
    assert (await _call(secured, "GET", "/fhir/Patient/999", READER))[0] == 404
    assert (await _call(secured, "GET", "/fhir/AuditEvent", READER))[0] == 403
    status, bundle = await _call(secured, "GET", "/fhir/AuditEvent?_count=10", OPERATOR)
    assert status == 200 and bundle["resourceType"] == "Bundle"
    events = [entry["resource"] for entry in bundle["entry"]]
    for event in events:
        AuditEvent.model_validate(event)
    search = next(e for e in events if e["entity"][0]["what"]["display"] == "GET /api/v1/orders")
    assert search["agent"][0]["who"]["display"] == "dashboard"
    assert (search["action"], search["outcome"]) == ("R", "0")
    assert base64.b64decode(search["entity"][0]["query"]) == b"patient=MRN42"
    (refused,) = [e for e in events if e["outcome"] == "4"]
    assert refused["entity"][0]["type"]["code"] == "Patient"
    assert refused["outcomeDesc"] == "HTTP 404"
    status, one = await _call(secured, "GET", f"/fhir/AuditEvent/{search['id']}", OPERATOR)
    assert (status, one["id"]) == (200, search["id"])


async def test_no_patient_data_leaves_unrecorded(gateway: RunningGateway) -> None:
    """When the trail cannot be written (its table gone), a read of patient data is a 503
    and carries no data; a figure, which the trail does not record, is still served."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    await client.send(orm_new_order("AUD9", control_id="AUD9", patient_id="MRN7009"))
    await client.close()
    async with gateway.engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE audit_events")
    status, body = await _call(gateway, "GET", "/api/v1/orders?patient=MRN7009", None)
    assert status == 503 and "audit trail" in body["detail"] and "MRN7009" not in str(body)
    assert (await _call(gateway, "GET", "/api/v1/flow/turnaround", None))[0] == 200
