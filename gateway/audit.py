"""The audit trail at the HTTP door: the middleware that records, and the operator's list."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

from aiohttp import web
from pydantic import Field

from gateway import paging
from gateway.audit_trail import audited_entity
from gateway.auth import GRANT, require_operator
from gateway.contract.registry import Routes
from gateway.contract.types import Text
from gateway.jsonio import json_response
from gateway.keys import AUDIT_TRAIL, ENGINE, SECURED
from gateway.models.common import Ranged, page_of
from gateway.problems import Handler, error_response
from mappers.fhir.audit_event import AuditRow
from store.audit import AuditEntry, list_entries

log = logging.getLogger(__name__)

routes = Routes()


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request in the trail once it is answered (errors and refusals too)."""
    response = await handler(request)
    entity = audited_entity(request.method, request.path)
    if entity is None:
        return response
    grant = request.get(GRANT)
    entry = AuditEntry(
        recorded_at=datetime.now(UTC),
        actor=grant.name if grant else "",
        role=grant.role.value if grant else "",
        action="read" if request.method in ("GET", "HEAD") else "change",
        entity=entity,
        method=request.method,
        # As sent, percent-encoded: a decoded value may hold what the store cannot (NUL).
        path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,
        peer=request.remote or "",
        status=response.status,
    )
    try:
        await request.app[AUDIT_TRAIL].record(entry)
    except Exception as exc:
        log.error("audit trail unavailable: %s", type(exc).__name__)
        return error_response(
            503, "Service Unavailable", "the audit trail cannot be written", request.path
        )
    return response


class AuditQuery(Ranged):
    """Filters of the audit trail."""

    actor: Text | None = Field(None, description="A token's name.")
    entity: Text | None = Field(None, description="orders, messages, Patient, devices...")


AuditPage = page_of(AuditRow, "AuditPage")


@routes.get(
    "/api/v1/audit",
    summary="The audit trail, newest first: who read or changed what, when, from where (operator).",
    query=AuditQuery,
    response=AuditPage,
    errors=(400, 403),
)
async def audit_list(request: web.Request, query: AuditQuery) -> web.Response:
    """Audit entries newest first, filtered and paged; the operator role only."""
    require_operator(request.get(GRANT), secured=request.app[SECURED], what="the audit trail")
    after = paging.read_cursor(query.cursor, nullable_time=False)
    async with request.app[ENGINE].connect() as conn:
        page = await list_entries(
            conn,
            actor=query.actor,
            entity=query.entity,
            start=query.from_,
            end=query.to,
            after=after,
            limit=query.limit,
        )
    items = [dataclasses.asdict(item) for item in page.items]
    return json_response({"items": items, "next_cursor": paging.encode_cursor(page.next_key)})
