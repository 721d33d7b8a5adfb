"""The audit trail's rows: written in sets by the writer, listed newest first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.fhir.audit_event import AuditRow
from store.paging import Page, after_key, page_of
from store.queries import SortKey
from store.schema import audit_events

QUERY_LIMIT = 4000  # characters of a search kept (a URL's query string, at most 32 KiB)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request for patient data, or one operator action, and its answer."""

    recorded_at: datetime
    actor: str  # the token's name; "" when the API is open (loopback only)
    role: str
    action: str  # read / change
    entity: str  # orders, messages, board, unmatched, audit, devices, Patient, ...
    method: str
    path: str
    query: str
    peer: str
    status: int


def insert_entries(conn: Connection, entries: list[AuditEntry]) -> None:
    """Write the entries in one multi-row statement, inside the caller's transaction."""
    rows = [{**asdict(e), "query": e.query[:QUERY_LIMIT], "path": e.path[:2048]} for e in entries]
    conn.execute(insert(audit_events), rows)


async def list_entries(
    conn: AsyncConnection,
    *,
    actor: str | None,
    entity: str | None,
    start: datetime | None,
    end: datetime | None,
    after: SortKey | None,
    limit: int,
) -> Page[AuditRow]:
    """Audit entries newest first by (recorded_at, id), filtered; keyset paging."""
    conditions: list[ColumnElement[bool]] = []
    if actor is not None:
        conditions.append(audit_events.c.actor == actor)
    if entity is not None:
        conditions.append(audit_events.c.entity == entity)
    if start is not None:
        conditions.append(audit_events.c.recorded_at >= start)
    if end is not None:
        conditions.append(audit_events.c.recorded_at < end)
    if after is not None:
        conditions.append(
            after_key((audit_events.c.recorded_at, audit_events.c.id), after, (True, True))
        )
    rows = (
        await conn.execute(
            select(audit_events)
            .where(*conditions)
            .order_by(audit_events.c.recorded_at.desc(), audit_events.c.id.desc())
            .limit(limit + 1)
        )
    ).mappings()
    items: list[tuple[SortKey, Any]] = [
        ((row["recorded_at"], row["id"]), AuditRow(**row)) for row in rows
    ]
    return page_of(items, limit)
