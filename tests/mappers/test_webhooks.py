"""Webhook bodies and signatures: the envelope DESIGN.md names, signed over the raw bytes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson

from mappers.webhooks import build_event, headers_for, sign


def test_body_is_the_envelope_with_sorted_keys() -> None:
    """id, type, occurred_at and data; the same event is always the same bytes."""
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    data = {"milestone": "exam_started", "accession": "A1", "at": "2026-03-02T09:30:00+00:00"}
    body = build_event("e-1", "milestone", at, data)
    assert orjson.loads(body) == {
        "id": "e-1",
        "type": "milestone",
        "occurred_at": "2026-03-02T09:30:00+00:00",
        "data": data,
    }
    assert body == build_event("e-1", "milestone", at, dict(reversed(data.items())))
    assert body.startswith(b'{"data":')


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    """sha256=<hex HMAC-SHA256(secret, body)>, checked with the standard library."""
    body = b'{"id":"x"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert sign("other", body) != sign("s3cret", body)


def test_headers_name_event_delivery_and_signature() -> None:
    """The three X-Imaging-Gateway headers and the JSON content type."""
    headers = headers_for("e-1", "device_down", "k", b"{}")
    assert headers["X-Imaging-Gateway-Event"] == "device_down"
    assert headers["X-Imaging-Gateway-Delivery"] == "e-1"
    assert headers["X-Imaging-Gateway-Signature"] == sign("k", b"{}")
    assert headers["Content-Type"] == "application/json"
