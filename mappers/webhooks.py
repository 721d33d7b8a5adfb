"""Webhook events as downstream apps receive them: the JSON body and its signature.

A POST of `{"id", "type", "occurred_at", "data"}`, signed `sha256=<hex HMAC-SHA256(secret,
raw body)>` (DESIGN.md, "Names other programs rely on"). Pure: the id and times are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

EVENT_HEADER = "X-Imaging-Gateway-Event"
DELIVERY_HEADER = "X-Imaging-Gateway-Delivery"
SIGNATURE_HEADER = "X-Imaging-Gateway-Signature"


def build_event(event_id: str, type_: str, occurred_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The event's JSON body, keys sorted so the same event is always the same bytes."""
    envelope = {"id": event_id, "type": type_, "occurred_at": occurred_at, "data": dict(data)}
    return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body under a destination's secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers_for(event_id: str, type_: str, secret: str, body: bytes) -> dict[str, str]:
    """Every header a webhook POST carries."""
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: type_,
        DELIVERY_HEADER: event_id,
        SIGNATURE_HEADER: sign(secret, body),
    }
