"""Retention: old message bodies cleared, old message-log rows deleted, a small step at a time.

The workflow rows (orders, milestones, studies, reports) stay: they are the department's
record. What goes is what an integration team needs for a while and an auditor for longer: a
message's raw body after `raw_days`, its log row after `message_days`. A pruned row's
references (the timeline, reports, arrivals and instances that name it) keep their facts and
lose the link. Delivered outbox rows go with the message-log rows of their age; an
undelivered or dead one stays until it is delivered. So do the PACS reconciler's outcomes,
but for the newest, which is the PACS's state as the integrity view shows it.

Each step is one short transaction the writer runs between batches, so pruning never holds
ingest up for more than one step. On SQLite the freed pages go back to the file system
(incremental auto-vacuum); PostgreSQL's autovacuum reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from store.fold.outbox import DELIVERED
from store.schema import (
    audit_events,
    instances,
    messages,
    order_timeline,
    outbox,
    pacs_checks,
    patient_arrivals,
    reports,
)

STEP_ROWS = 250  # rows one step touches: about 15 ms of the writer's time
VACUUM_PAGES = 512  # SQLite pages returned to the file system per step (2 MB at 4 KiB)
_REFERRING = (order_timeline, reports, patient_arrivals, instances)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is old enough to go: bodies and rows of messages received before these times."""

    bodies_before: datetime | None
    rows_before: datetime | None
    audit_before: datetime | None = None

    @classmethod
    def from_days(
        cls, now: datetime, raw_days: int, message_days: int, audit_days: int = 0
    ) -> Cutoffs:
        """Cutoffs so many days before `now`; 0 keeps forever."""

        def before(days: int) -> datetime | None:
            return now - timedelta(days=days) if days else None

        return cls(before(raw_days), before(message_days), before(audit_days))


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one step removed."""

    bodies: int = 0
    rows: int = 0
    audit: int = 0
    outbox: int = 0  # delivered outbox rows
    pacs_checks: int = 0  # the reconciler's outcomes, but for the newest

    @property
    def anything(self) -> bool:
        """True when the step found work: another step may find more."""
        return bool(self.bodies or self.rows or self.audit or self.outbox or self.pacs_checks)


def prune_step(conn: Connection, cutoffs: Cutoffs, limit: int = STEP_ROWS) -> Pruned:
    """Delete up to `limit` old log rows, then clear up to `limit` old bodies; the caller's
    transaction."""
    rows = _delete_rows(conn, cutoffs.rows_before, limit) if cutoffs.rows_before else 0
    bodies = 0
    if cutoffs.bodies_before and not rows:  # rows to be deleted need no body cleared first
        bodies = _clear_bodies(conn, cutoffs.bodies_before, limit)
    audit = _delete_audit(conn, cutoffs.audit_before, limit) if cutoffs.audit_before else 0
    sent = _delete_delivered(conn, cutoffs.rows_before, limit) if cutoffs.rows_before else 0
    checks = _delete_old_checks(conn, cutoffs.rows_before, limit) if cutoffs.rows_before else 0
    if (rows or bodies or audit or sent or checks) and conn.dialect.name == "sqlite":
        _return_free_pages(conn)
    return Pruned(bodies=bodies, rows=rows, audit=audit, outbox=sent, pacs_checks=checks)


def _return_free_pages(conn: Connection) -> None:
    """Give up to VACUUM_PAGES free pages back to the file system (SQLite).

    The pragma frees one page per step of its statement, and Python's sqlite3 steps a
    statement without result columns once: one page per call, so it is called per page.
    """
    driver = conn.connection.dbapi_connection
    assert driver is not None
    free = driver.execute("PRAGMA freelist_count").fetchone()[0]
    for _ in range(min(free, VACUUM_PAGES)):
        driver.execute("PRAGMA incremental_vacuum(1)")


def _delete_audit(conn: Connection, before: datetime, limit: int) -> int:
    oldest = (
        select(audit_events.c.id)
        .where(audit_events.c.recorded_at < before)
        .order_by(audit_events.c.recorded_at)
        .limit(limit)
    )
    ids = list(conn.execute(oldest).scalars())
    if ids:
        conn.execute(delete(audit_events).where(_among(audit_events.c.id, conn)), {"ids": ids})
    return len(ids)


def _delete_delivered(conn: Connection, before: datetime, limit: int) -> int:
    oldest = (
        select(outbox.c.id)
        .where(outbox.c.created_at < before, outbox.c.state == DELIVERED)
        .order_by(outbox.c.created_at)
        .limit(limit)
    )
    ids = list(conn.execute(oldest).scalars())
    if ids:
        conn.execute(delete(outbox).where(_among(outbox.c.id, conn)), {"ids": ids})
    return len(ids)


def _delete_old_checks(conn: Connection, before: datetime, limit: int) -> int:
    newest = select(func.max(pacs_checks.c.id)).scalar_subquery()
    oldest = (
        select(pacs_checks.c.id)
        .where(pacs_checks.c.checked_at < before, pacs_checks.c.id != newest)
        .order_by(pacs_checks.c.checked_at)
        .limit(limit)
    )
    ids = list(conn.execute(oldest).scalars())
    if ids:
        conn.execute(delete(pacs_checks).where(_among(pacs_checks.c.id, conn)), {"ids": ids})
    return len(ids)


def _delete_rows(conn: Connection, before: datetime, limit: int) -> int:
    ids = list(conn.execute(_OLDEST_ROWS, {"before": before, "limit": limit}).scalars())
    if not ids:
        return 0
    for table in _REFERRING:
        conn.execute(
            update(table).where(_among(table.c.message_id, conn)).values(message_id=None),
            {"ids": ids},
        )
    conn.execute(delete(messages).where(_among(messages.c.id, conn)), {"ids": ids})
    return len(ids)


def _clear_bodies(conn: Connection, before: datetime, limit: int) -> int:
    ids = list(conn.execute(_OLDEST_BODIES, {"before": before, "limit": limit}).scalars())
    if ids:
        conn.execute(
            update(messages).where(_among(messages.c.id, conn)).values(raw=b""), {"ids": ids}
        )
    return len(ids)


def _among(column: Any, conn: Connection) -> Any:
    """`column` is one of the ids: PostgreSQL takes them as one array parameter (one plan
    for every step, where an IN list of a new length is a new statement to plan)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(BigInteger)))
    return column.in_(bindparam("ids", expanding=True))


def store_bytes(conn: Connection) -> int:
    """The store's size on disk, in bytes (the Prometheus gauge)."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
    size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
    return int(pages) * int(size)


_OLDEST_ROWS = (
    select(messages.c.id)
    .where(messages.c.received_at < bindparam("before"))
    .order_by(messages.c.received_at)
    .limit(bindparam("limit"))
)
# Walks ix_messages_body_kept: a cleared body drops out of it.
_OLDEST_BODIES = (
    select(messages.c.id)
    .where(messages.c.received_at < bindparam("before"), func.length(messages.c.raw) > 0)
    .order_by(messages.c.received_at)
    .limit(bindparam("limit"))
)
