"""The list routes (orders, messages), message content and replay, with a real client."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import delete, event, insert, select, update

from fixtures.messages import orm_new_order
from store.schema import messages, order_timeline, orders, reports
from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient, segments

HL7_FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"

_SUMMARY_KEYS = {
    "accession",
    "status",
    "modality",
    "priority",
    "patient_class",
    "procedure_code",
    "procedure_text",
    "patient",
    "ordered_at",
    "scheduled_start",
    "milestones",
}


async def _request(
    method: str, url: str, params: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, params=params) as response,
    ):
        return response.status, response.content_type, await response.json(content_type=None)


async def _get(url: str, **params: str) -> tuple[int, str, Any]:
    return await _request("GET", url, params)


async def _send(gateway: RunningGateway, *payloads: bytes) -> list[bytes]:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        return [await client.send(payload) for payload in payloads]
    finally:
        await client.close()


async def _accessions(gateway: RunningGateway, **params: str) -> list[str]:
    status, _, body = await _get(f"{gateway.http_url}/api/v1/orders", **params)
    assert status == 200, body
    return [item["accession"] for item in body["items"]]


async def _message_id(gateway: RunningGateway, control_id: str) -> int:
    async with gateway.engine.connect() as conn:
        return await conn.scalar(select(messages.c.id).where(messages.c.control_id == control_id))


async def _load_orders(gateway: RunningGateway) -> None:
    """Four orders: two patients, three modalities, one per day from 2026-11-20."""
    await _send(
        gateway,
        orm_new_order(
            "A1", control_id="C1", modality="CT", patient_id="P1", ordered_at="20261120080000"
        ),
        orm_new_order(
            "A2", control_id="C2", modality="MR", patient_id="P1", ordered_at="20261121080000"
        ),
        orm_new_order(
            "A3", control_id="C3", modality="CT", patient_id="P2", ordered_at="20261122080000"
        ),
        orm_new_order(
            "A4", control_id="C4", modality="US", patient_id="P2", ordered_at="20261123080000"
        ),
    )


async def test_orders_are_listed_newest_first_as_summaries(gateway: RunningGateway) -> None:
    """GET /api/v1/orders lists summaries newest first, with patient and milestones."""
    await _load_orders(gateway)
    status, content_type, body = await _get(f"{gateway.http_url}/api/v1/orders")
    assert (status, content_type) == (200, "application/json")
    assert [item["accession"] for item in body["items"]] == ["A4", "A3", "A2", "A1"]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert set(first) == _SUMMARY_KEYS
    assert first["status"] == "ordered" and first["modality"] == "US"
    assert first["patient"] == {
        "identifier": "P2",
        "authority": "GENERAL_HOSP",
        "family_name": "DOE",
        "given_name": "JANE",
    }
    assert first["ordered_at"] == "2026-11-23T08:00:00+00:00"
    assert first["milestones"]["ordered"] == "2026-11-23T08:00:00+00:00"


async def test_each_order_filter_narrows_the_list(gateway: RunningGateway) -> None:
    """modality, patient, accession, status and from/to each narrow the order list."""
    await _load_orders(gateway)
    async with gateway.engine.begin() as conn:
        await conn.execute(
            update(orders).where(orders.c.accession == "A2").values(status="cancelled")
        )
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"modality": "CT"}, ["A3", "A1"]),
        ({"patient": "P1"}, ["A2", "A1"]),
        ({"patient": "GENERAL_HOSP|P2"}, ["A4", "A3"]),
        ({"patient": "OTHER_HOSP|P2"}, []),
        ({"accession": "A3"}, ["A3"]),
        ({"status": "cancelled"}, ["A2"]),
        ({"status": "ordered,cancelled"}, ["A4", "A3", "A2", "A1"]),
        ({"status": "final_report"}, []),
        ({"from": "2026-11-22"}, ["A4", "A3"]),
        ({"to": "2026-11-22"}, ["A2", "A1"]),
        ({"from": "2026-11-21T09:00:00+01:00", "to": "2026-11-23T08:00:00Z"}, ["A3", "A2"]),
        ({"modality": "CT", "patient": "P2", "status": "ordered"}, ["A3"]),
    ]
    for params, expected in cases:
        assert await _accessions(gateway, **params) == expected, params
    # An offset's "+" left unescaped arrives as a space; it is read as the "+" it was.
    status, _, body = await _get(f"{gateway.http_url}/api/v1/orders?from=2026-11-22T09:00:00+01:00")
    assert status == 200 and [i["accession"] for i in body["items"]] == ["A4", "A3"]


async def test_a_list_page_is_one_sql_statement(gateway: RunningGateway) -> None:
    """A page of orders (with their patients) or of messages is read with one statement."""
    await _load_orders(gateway)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        # SQLite's engine opens its transactions with an explicit BEGIN: not a query.
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(gateway.engine.sync_engine, "before_cursor_execute", count)
    try:
        for path in ("orders?limit=2&status=ordered&patient=P1", "messages?limit=2&type=ORM"):
            statements.clear()
            status, _, body = await _get(f"{gateway.http_url}/api/v1/{path}")
            assert status == 200 and len(body["items"]) == 2
            assert len(statements) == 1, statements
    finally:
        event.remove(gateway.engine.sync_engine, "before_cursor_execute", count)


async def test_paging_walks_every_order_once_in_order(gateway: RunningGateway) -> None:
    """limit=2 pages through ties and orders without an order time, each exactly once."""
    await _send(
        gateway,
        *(
            orm_new_order(f"P{n}", control_id=f"PG{n}", ordered_at=f"2026112{n // 2}080000")
            for n in range(5)
        ),
    )
    now = datetime.now(UTC)
    async with gateway.engine.begin() as conn:
        # Placeholders, as a report that came before its order leaves them: no order time.
        await conn.execute(
            insert(orders),
            [
                {"accession": name, "status": "final_report", "created_at": now, "updated_at": now}
                for name in ("X1", "X2", "X3")
            ],
        )
    seen: list[str] = []
    pages = 0
    params = {"limit": "2"}
    while True:
        status, _, body = await _get(f"{gateway.http_url}/api/v1/orders", **params)
        assert status == 200, body
        assert len(body["items"]) <= 2
        seen += [item["accession"] for item in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": body["next_cursor"]}
    # P4 alone on day 2; P2, P3 share day 1 and P0, P1 day 0: ties go newest id first.
    assert seen == ["P4", "P3", "P2", "P1", "P0", "X3", "X2", "X1"]
    assert pages == 4


async def test_every_bad_parameter_is_a_400_naming_it(gateway: RunningGateway) -> None:
    """Each unusable or unknown parameter answers 400 problem+json whose detail names it."""
    orders_url = f"{gateway.http_url}/api/v1/orders"
    messages_url = f"{gateway.http_url}/api/v1/messages"
    message_cursor = "WyIyMDI2LTExLTIyVDA4OjAwOjAwKzAwOjAwIiwxXQ"  # ["2026-11-22T08:00...",1]
    null_time_cursor = "W251bGwsMV0"  # [null,1]: only orders sort rows without a time
    cases: list[tuple[str, dict[str, str], str]] = [
        (orders_url, {"status": "done"}, "status"),
        (orders_url, {"status": "ordered,"}, "status"),
        (orders_url, {"modality": ""}, "modality"),
        (orders_url, {"patient": "|P1"}, "patient"),
        (orders_url, {"patient": "GENERAL_HOSP|"}, "patient"),
        (orders_url, {"accession": ""}, "accession"),
        (orders_url, {"from": "yesterday"}, "from"),
        (orders_url, {"from": "2026-11-22T08:30:00"}, "from"),
        (orders_url, {"to": "2026-13-01"}, "to"),
        (orders_url, {"from": "2026-11-23", "to": "2026-11-22"}, "from"),
        (orders_url, {"limit": "0"}, "limit"),
        (orders_url, {"limit": "501"}, "limit"),
        (orders_url, {"limit": "ten"}, "limit"),
        (orders_url, {"cursor": "not a cursor"}, "cursor"),
        (orders_url, {"cursor": "e30"}, "cursor"),  # {}
        (orders_url, {"sort": "asc"}, "sort"),
        (messages_url, {"outcome": "ok"}, "outcome"),
        (messages_url, {"type": "ORM^"}, "type"),
        (messages_url, {"type": "orm"}, "type"),
        (messages_url, {"control_id": ""}, "control_id"),
        (messages_url, {"from": "2026-11-22T08:30"}, "from"),
        (messages_url, {"limit": "-1"}, "limit"),
        (messages_url, {"cursor": null_time_cursor}, "cursor"),
        (messages_url, {"raw": "1"}, "raw"),
        (messages_url, {"status": "applied"}, "status"),
    ]
    for url, params, name in cases:
        status, content_type, body = await _get(url, **params)
        assert (status, content_type) == (400, "application/problem+json"), params
        assert body["detail"].startswith(f"{name}:"), (params, body["detail"])
    status, _, _ = await _get(messages_url, cursor=message_cursor)
    assert status == 200


async def test_a_parameter_given_twice_is_a_400(gateway: RunningGateway) -> None:
    """A parameter repeated in the query string is refused, naming it."""
    url = f"{gateway.http_url}/api/v1/orders?limit=1&limit=2"
    status, _, body = await _get(url)
    assert status == 400 and body["detail"].startswith("limit:")


async def test_messages_list_filters_by_outcome_and_type_without_content(
    gateway: RunningGateway,
) -> None:
    """GET /api/v1/messages filters by outcome and type and never shows the raw message."""
    good = orm_new_order("M1", control_id="GOOD1")
    no_mrn = orm_new_order("M2", control_id="NOMRN").replace(
        b"PID|1||MRN0001^^^GENERAL_HOSP^MR||", b"PID|1||||"
    )
    adt = (HL7_FIXTURES / "adt_a01_v25_admit.hl7").read_bytes()
    await _send(gateway, good, no_mrn, adt)
    url = f"{gateway.http_url}/api/v1/messages"

    status, _, body = await _get(url)
    assert status == 200
    assert [item["control_id"] for item in body["items"]] == ["ADT20240315063011", "NOMRN", "GOOD1"]
    assert all("raw" not in item for item in body["items"])
    assert body["next_cursor"] is None

    _, _, rejected = await _get(url, outcome="rejected")
    (item,) = rejected["items"]
    assert item["control_id"] == "NOMRN" and item["outcome"] == "rejected"
    assert item["ack_code"] == "AR"
    assert item["error_location"] is not None and item["error_location"].startswith("PID")
    assert "-3" in item["error_location"]

    _, _, applied = await _get(url, outcome="applied,not_mapped", type="ORM")
    assert [i["control_id"] for i in applied["items"]] == ["GOOD1"]
    _, _, orm = await _get(url, type="ORM^O01")
    assert [i["control_id"] for i in orm["items"]] == ["NOMRN", "GOOD1"]
    _, _, adts = await _get(url, type="ADT")
    assert [(i["control_id"], i["message_type"]) for i in adts["items"]] == [
        ("ADT20240315063011", "ADT^A01")
    ]
    _, _, by_id = await _get(url, control_id="GOOD1")
    assert [i["message_type"] for i in by_id["items"]] == ["ORM^O01"]

    _, _, first = await _get(url, limit="2")
    _, _, rest = await _get(url, limit="2", cursor=first["next_cursor"])
    assert [i["control_id"] for i in first["items"] + rest["items"]] == [
        "ADT20240315063011",
        "NOMRN",
        "GOOD1",
    ]
    assert rest["next_cursor"] is None


async def test_a_message_is_shown_with_its_text_in_its_charset(gateway: RunningGateway) -> None:
    """GET /api/v1/messages/{id} adds the raw message, decoded per its MSH-18 (8859/1 here)."""
    payload = (HL7_FIXTURES / "orm_o01_nw_v231_latin1_cr.hl7").read_bytes()
    await _send(gateway, payload)
    message_id = await _message_id(gateway, "NRD20240319134411")
    status, _, body = await _get(f"{gateway.http_url}/api/v1/messages/{message_id}")
    assert status == 200
    assert body["id"] == message_id and body["charset"] == "8859/1"
    assert body["raw"] == payload.decode("latin-1")
    assert "SØNDERGÅRD" in body["raw"]
    status, content_type, _ = await _get(f"{gateway.http_url}/api/v1/messages/999999")
    assert (status, content_type) == (404, "application/problem+json")


async def test_replay_applies_a_failed_message_again(gateway: RunningGateway) -> None:
    """POST .../replay reprocesses a failed message: its order is back and it is applied."""
    await _send(gateway, orm_new_order("R1", control_id="REPLAY1"))
    message_id = await _message_id(gateway, "REPLAY1")
    async with gateway.engine.begin() as conn:
        # As if applying had failed: the message kept as failed, no order made.
        order_id = await conn.scalar(select(orders.c.id).where(orders.c.accession == "R1"))
        await conn.execute(delete(order_timeline).where(order_timeline.c.order_id == order_id))
        await conn.execute(delete(reports).where(reports.c.order_id == order_id))
        await conn.execute(delete(orders).where(orders.c.id == order_id))
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(outcome="failed", ack_code="AE", error="OperationalError: locked")
        )
    assert (await _get(f"{gateway.http_url}/api/v1/orders/R1"))[0] == 404

    url = f"{gateway.http_url}/api/v1/messages/{message_id}/replay"
    status, _, body = await _request("POST", url)
    assert status == 200
    assert body == {"message_id": message_id, "outcome": "applied", "ack_code": "AA"}
    status, _, order = await _get(f"{gateway.http_url}/api/v1/orders/R1")
    assert status == 200 and order["status"] == "ordered"
    _, _, message = await _get(f"{gateway.http_url}/api/v1/messages/{message_id}")
    assert (message["outcome"], message["ack_code"]) == ("applied", "AA")


async def test_replay_refuses_applied_other_protocol_and_unknown(gateway: RunningGateway) -> None:
    """Replay answers 409 for an applied or non-HL7 message and 404 for an unknown id."""
    answers = await _send(gateway, orm_new_order("R2", control_id="DONE1"))
    assert segments(answers[0])["MSA"][1] == "AA"
    message_id = await _message_id(gateway, "DONE1")
    base = f"{gateway.http_url}/api/v1/messages"

    status, content_type, body = await _request("POST", f"{base}/{message_id}/replay")
    assert (status, content_type) == (409, "application/problem+json")
    assert "applied" in body["detail"]

    async with gateway.engine.begin() as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(protocol="dicom", outcome="failed")
        )
    status, _, body = await _request("POST", f"{base}/{message_id}/replay")
    assert status == 409 and "dicom" in body["detail"]

    status, content_type, _ = await _request("POST", f"{base}/999999/replay")
    assert (status, content_type) == (404, "application/problem+json")
    # Beyond any row id (the document states the maximum): refused naming the parameter.
    status, content_type, body = await _request("POST", f"{base}/{2**63}/replay")
    assert (status, content_type) == (400, "application/problem+json")
    assert body["detail"].startswith("id:")


async def test_order_detail_shows_schedule_fields_and_reports(gateway: RunningGateway) -> None:
    """GET /api/v1/orders/{accession} carries the order's details and its reports."""
    await _send(
        gateway,
        orm_new_order("ACC240317011", control_id="ORD11", patient_id="GH0066231"),
        (HL7_FIXTURES / "oru_r01_v231_final_ct.hl7").read_bytes(),
    )
    status, _, body = await _get(f"{gateway.http_url}/api/v1/orders/ACC240317011")
    assert status == 200
    for name in (
        "scheduled_start",
        "scheduled_resource",
        "patient_class",
        "study_instance_uid",
        "requested_procedure_id",
        "location",
        "no_show_at",
    ):
        assert name in body
    (report,) = body["reports"]
    assert set(report) == {"status", "result_at", "radiologist_id", "radiologist_name", "text"}
    assert "No acute intra-abdominal process." in report["text"]
    assert body["milestones"]["final_report"] == report["result_at"]
