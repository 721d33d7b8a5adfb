"""The audit trail as FHIR R4 AuditEvent resources (IHE BALP's RESTful shape, simplified).

One entry: the API call (type `rest`, its interaction as the subtype), who made it (the
token's name, the peer's address), the gateway as the observer, what it concerned (the kind of
data, the path, the search as sent), and the outcome by the HTTP status.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Resource = dict[str, Any]

_AUDIT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_INTERACTIONS = "http://hl7.org/fhir/restful-interaction"
# HTTP method -> (AuditEvent.action, restful interaction)
_BY_METHOD = {
    "GET": ("R", "read"),
    "HEAD": ("R", "read"),
    "POST": ("E", "operation"),
    "PUT": ("U", "update"),
    "PATCH": ("U", "patch"),
    "DELETE": ("D", "delete"),
}
_SOURCE_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
    "code": "4",
    "display": "Application Server",
}
_HUMAN_USER = {
    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
    "code": "humanuser",
    "display": "human user",
}
_ENTITY_TYPES = "http://hl7.org/fhir/resource-types"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An audit trail row as the store reads it: for the API's list and for FHIR."""

    id: int
    recorded_at: datetime
    actor: str
    role: str
    action: str
    entity: str
    method: str
    path: str
    query: str
    peer: str
    status: int


def to_fhir_audit_event(row: AuditRow) -> Resource:
    """An AuditEvent for one recorded API call."""
    action, interaction = _BY_METHOD.get(row.method, ("E", "operation"))
    if row.method == "GET" and row.query:
        interaction = "search-type"
    agent: Resource = {
        "type": {"coding": [_HUMAN_USER]},
        "who": {"display": row.actor or "open API (loopback only)"},
        "requestor": True,
    }
    if row.role:
        agent["role"] = [{"text": row.role}]
    if row.peer:
        agent["network"] = {"address": row.peer, "type": "2"}  # 2: IP address
    entity: Resource = {"what": {"display": f"{row.method} {row.path}"}}
    if row.entity[:1].isupper():  # a FHIR resource type
        entity["type"] = {"system": _ENTITY_TYPES, "code": row.entity}
    else:
        entity["description"] = row.entity
    if row.query:
        entity["query"] = base64.b64encode(row.query.encode("utf-8")).decode("ascii")
    recorded = _instant(row.recorded_at)
    return {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "meta": {"lastUpdated": recorded},
        "type": _AUDIT_TYPE,
        "subtype": [{"system": _INTERACTIONS, "code": interaction}],
        "action": action,
        "recorded": recorded,
        "outcome": "0" if row.status < 400 else ("4" if row.status < 500 else "8"),
        "outcomeDesc": f"HTTP {row.status}",
        "agent": [agent],
        "source": {"observer": {"display": "imaging-gateway"}, "type": [_SOURCE_TYPE]},
        "entity": [entity],
    }


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"
