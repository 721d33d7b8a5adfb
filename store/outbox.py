"""The outbox's shell: claim what is due, record each attempt, retry a dead letter, list rows.

Claims and attempts are small transactions on the outbox table alone, run by the one writer
between batches (`Ingest.run`), as pruning and the audit trail are: on SQLite a second writer
connection would meet the writer's lock, and on PostgreSQL the writer's connection is where
`FOR UPDATE SKIP LOCKED` keeps two processes off the same rows. A claim is a lease: the row
is the claimer's until `claimed_until`, and a process killed while it holds rows gives them
back when the lease ends, to be sent again with the same event id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.fold.outbox import DEAD, DELIVERED, PENDING
from store.paging import Page, after_key, page_of
from store.queries import SortKey
from store.schema import orders, outbox, patients

ERROR_LIMIT = 2000  # characters of an attempt's error kept


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed row: what to send, where, and under which event id."""

    id: int
    destination: str
    kind: str
    event_type: str
    sequence_key: str
    event_id: str
    occurred_at: datetime
    created_at: datetime
    data: dict[str, Any]
    body: bytes | None
    attempts: int


# Renders a row's body at its first claim, from its facts and (for an order's event) the order
# and its patient as the store holds them then; the body is kept for every later attempt.
Render = Callable[[OutboxItem, Mapping[str, Any] | None], bytes]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What became of one attempt to send a claimed row."""

    id: int
    state: str  # PENDING (try again at next_attempt_at), DELIVERED or DEAD
    sent_at: datetime | None  # None when nothing reached the destination
    acknowledged_at: datetime | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxView:
    """A row's journey, as `GET /api/v1/outbox` shows it."""

    id: int
    destination: str
    kind: str
    type: str
    sequence_key: str
    event_id: str
    occurred_at: datetime
    state: str
    attempts: int
    committed_at: datetime
    claimed_at: datetime | None
    sent_at: datetime | None
    acknowledged_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    data: dict[str, Any]


# The order and patient columns a status message names (the patient as last received).
_ORDER_FACTS = (
    orders.c.accession,
    orders.c.placer_number,
    orders.c.filler_number,
    orders.c.procedure_code,
    orders.c.procedure_text,
    orders.c.procedure_system,
    orders.c.requested_procedure_id,
    orders.c.study_instance_uid,
    orders.c.modality,
    orders.c.priority,
    orders.c.patient_class,
    patients.c.identifier.label("patient_identifier"),
    patients.c.authority.label("patient_authority"),
    patients.c.family_name,
    patients.c.given_name,
    patients.c.middle_name,
    patients.c.birth_date,
    patients.c.sex,
)


def claim(
    conn: Connection,
    destination: str,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    claimer: str,
    render: Render,
) -> list[OutboxItem]:
    """Claim up to `limit` due rows of a destination, each the first undelivered row of its
    sequence key; render the bodies not rendered yet. Rows another process is claiming are
    skipped (PostgreSQL), not waited for."""
    earlier = outbox.alias("earlier")
    held_back = (
        select(earlier.c.id)
        .where(
            earlier.c.destination == outbox.c.destination,
            earlier.c.sequence_key == outbox.c.sequence_key,
            earlier.c.id < outbox.c.id,
            earlier.c.state != DELIVERED,
        )
        .exists()
    )
    statement = (
        select(outbox)
        .where(
            outbox.c.destination == destination,
            outbox.c.state == PENDING,
            outbox.c.next_attempt_at <= now,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
            ~held_back,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=outbox)
    items = [_item(row) for row in conn.execute(statement).mappings()]
    if not items:
        return []
    facts = _order_facts(conn, [i.data["accession"] for i in items if _names_order(i)])
    claimed = []
    for item in items:
        body = item.body
        if body is None:
            body = render(item, facts.get(item.data.get("accession", "")))
        claimed.append(_with_body(item, body))
    conn.execute(
        _CLAIM,
        [
            {
                "b_id": item.id,
                "b_body": item.body,
                "b_claimed_at": now,
                "b_claimed_until": now + lease,
                "b_claimed_by": claimer,
            }
            for item in claimed
        ],
    )
    return claimed


_CLAIM = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(
        body=bindparam("b_body", type_=outbox.c.body.type),
        claimed_at=bindparam("b_claimed_at", type_=outbox.c.claimed_at.type),
        claimed_until=bindparam("b_claimed_until", type_=outbox.c.claimed_until.type),
        claimed_by=bindparam("b_claimed_by"),
    )
)


def _names_order(item: OutboxItem) -> bool:
    return item.body is None and bool(item.data.get("accession"))


def _order_facts(conn: Connection, accessions: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    if not accessions:
        return {}
    rows = conn.execute(
        select(*_ORDER_FACTS)
        .select_from(orders.outerjoin(patients, patients.c.id == orders.c.patient_id))
        .where(orders.c.accession.in_(sorted(set(accessions))))
    ).mappings()
    return {row["accession"]: dict(row) for row in rows}


def record(conn: Connection, attempts: Sequence[Attempt], *, claimer: str) -> int:
    """Record attempts on rows this claimer still holds (a row whose lease ran out and that
    another process took is left to it); the number recorded."""
    if not attempts:
        return 0
    result = conn.execute(
        _RECORD,
        [
            {
                "b_id": a.id,
                "b_claimer": claimer,
                "b_state": a.state,
                "b_sent_at": a.sent_at,
                "b_acknowledged_at": a.acknowledged_at,
                "b_error": None if a.error is None else a.error[:ERROR_LIMIT],
                "b_next": a.next_attempt_at,
            }
            for a in attempts
        ],
    )
    return result.rowcount


_RECORD = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("b_id"),
        outbox.c.claimed_by == bindparam("b_claimer"),
        outbox.c.state == PENDING,
    )
    .values(
        state=bindparam("b_state"),
        attempts=outbox.c.attempts + 1,
        sent_at=func.coalesce(
            bindparam("b_sent_at", type_=outbox.c.sent_at.type), outbox.c.sent_at
        ),
        acknowledged_at=bindparam("b_acknowledged_at", type_=outbox.c.acknowledged_at.type),
        # Kept through a later success: the journey shows what the row met on the way.
        last_error=func.coalesce(
            bindparam("b_error", type_=outbox.c.last_error.type), outbox.c.last_error
        ),
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=outbox.c.next_attempt_at.type), outbox.c.next_attempt_at
        ),
        claimed_until=None,
    )
)


def release(conn: Connection, ids: Sequence[int], *, claimer: str) -> None:
    """Give back claimed rows that were not tried, so that they are due again at once."""
    if ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)), outbox.c.claimed_by == claimer)
            .values(claimed_until=None)
        )


def release_all(conn: Connection, *, claimer: str) -> None:
    """Give back every row this claimer holds (a gateway stopping), due again at once."""
    conn.execute(
        update(outbox)
        .where(outbox.c.claimed_by == claimer, outbox.c.state == PENDING)
        .values(claimed_until=None)
    )


def retry_dead(conn: Connection, row_id: int, *, now: datetime) -> str | None:
    """Make a dead letter pending again, due now; its state before (None: no such row)."""
    state = conn.execute(select(outbox.c.state).where(outbox.c.id == row_id)).scalar()
    if state == DEAD:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.state == DEAD)
            .values(state=PENDING, next_attempt_at=now, claimed_until=None)
        )
    return state


async def list_outbox(
    conn: AsyncConnection,
    *,
    state: str | None,
    destination: str | None,
    after: SortKey | None,
    limit: int,
) -> Page[OutboxView]:
    """Outbox rows newest first by (committed, id), filtered; keyset paging."""
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(outbox.c.state == state)
    if destination is not None:
        conditions.append(outbox.c.destination == destination)
    if after is not None:
        conditions.append(after_key((outbox.c.created_at, outbox.c.id), after, (True, True)))
    rows = (
        await conn.execute(
            select(outbox)
            .where(*conditions)
            .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
            .limit(limit + 1)
        )
    ).mappings()
    items: list[tuple[SortKey, OutboxView]] = [
        ((row["created_at"], row["id"]), _view(row)) for row in rows
    ]
    return page_of(items, limit)


@dataclass(frozen=True, slots=True)
class Backlog:
    """A destination's undelivered rows: how many, and when the oldest was committed."""

    destination: str
    pending: int
    dead: int
    oldest: datetime | None


async def backlogs(conn: AsyncConnection) -> list[Backlog]:
    """Every destination with undelivered rows (Prometheus gauges)."""
    rows = await conn.execute(
        select(
            outbox.c.destination,
            outbox.c.state,
            func.count(),
            func.min(outbox.c.created_at),
        )
        .where(outbox.c.state != DELIVERED)
        .group_by(outbox.c.destination, outbox.c.state)
    )
    found: dict[str, Backlog] = {}
    for destination, state, count, oldest in rows:
        before = found.get(destination, Backlog(destination, 0, 0, None))
        found[destination] = Backlog(
            destination,
            before.pending + (count if state == PENDING else 0),
            before.dead + (count if state == DEAD else 0),
            min(t for t in (before.oldest, oldest) if t is not None) if oldest else before.oldest,
        )
    return list(found.values())


def _item(row: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        destination=row["destination"],
        kind=row["kind"],
        event_type=row["event_type"],
        sequence_key=row["sequence_key"],
        event_id=row["event_id"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        data=orjson.loads(row["data"]),
        body=row["body"],
        attempts=row["attempts"],
    )


def _with_body(item: OutboxItem, body: bytes) -> OutboxItem:
    return replace(item, body=body)


def _view(row: Mapping[str, Any]) -> OutboxView:
    return OutboxView(
        id=row["id"],
        destination=row["destination"],
        kind=row["kind"],
        type=row["event_type"],
        sequence_key=row["sequence_key"],
        event_id=row["event_id"],
        occurred_at=row["occurred_at"],
        state=row["state"],
        attempts=row["attempts"],
        committed_at=row["created_at"],
        claimed_at=row["claimed_at"],
        sent_at=row["sent_at"],
        acknowledged_at=row["acknowledged_at"],
        next_attempt_at=row["next_attempt_at"] if row["state"] == PENDING else None,
        last_error=row["last_error"],
        data=orjson.loads(row["data"]),
    )
