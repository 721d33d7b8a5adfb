"""Data quality per sender, read from the message log's columns (never from the bodies).

A sender is the sending application and facility (HL7 MSH-3 and MSH-4; for DICOM, the calling
AE title and no facility). Within a window of first arrivals it is scored on: messages by
type; the share refused (AR) or failed (AE), by reason and field; recommended fields left
empty; how late messages arrive (MSH-7 to first arrival, p50 and p90, in seconds); resends;
and control ids reused for other content. A few grouped statements, whatever the traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.hl7v2.quality import RECOMMENDED
from store.reading.ranks import percentiles_by_group
from store.reading.sql import at, epoch_seconds
from store.schema import messages

# Every recommended field any message type names, in the order the scorecard lists them.
FIELDS: tuple[str, ...] = tuple(dict.fromkeys(name for t in RECOMMENDED.values() for name in t))
LATENESS_PERCENTS = (50, 90)

SenderKey = tuple[str, str]  # (application, facility)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Messages of one sender refused or failed for one reason at one field."""

    outcome: str  # rejected / failed
    reason: str
    field: str  # where the error points (`OBR-4.1`); "" when it names no field
    count: int


@dataclass(frozen=True, slots=True)
class Lateness:
    """Whole seconds from a message's own time (MSH-7) to its first arrival, each floored to
    its second; negative when the sender's clock runs ahead. Counts only messages that carry
    a readable time."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class SenderQuality:
    """One sender's scorecard over the window."""

    sending_application: str
    sending_facility: str
    protocol: str
    messages: int  # distinct messages (a resend is the same message)
    received: int  # every receipt, resends included
    by_type: Mapping[str, int]
    rejected: int
    failed: int
    refused_share: float  # (rejected + failed) / messages
    refusals: tuple[Refusal, ...]
    missing_fields: Mapping[str, int]  # field -> messages that left it empty
    with_missing_fields: int
    lateness: Lateness
    resent_messages: int  # messages received more than once
    resends: int  # receipts beyond the first
    reused_control_ids: int  # messages whose control id had named other content
    first_received_at: datetime | None = None
    last_received_at: datetime | None = None


async def read_sender_quality(
    conn: AsyncConnection, *, since: datetime | None, until: datetime | None
) -> list[SenderQuality]:
    """Every sender heard from in [since, until) (by first arrival), by application and
    facility."""
    window = _window(since, until)
    sender = (
        func.coalesce(messages.c.sending_application, "").label("app"),
        func.coalesce(messages.c.sending_facility, "").label("fac"),
    )
    keys = ("app", "fac")
    totals = await _totals(conn, window, sender)
    if not totals:
        return []
    by_type: dict[SenderKey, dict[str, int]] = {}
    for row in await conn.execute(
        select(*sender, func.coalesce(messages.c.message_type, "").label("t"), func.count())
        .where(window)
        .group_by(*keys, "t")
    ):
        by_type.setdefault((row[0], row[1]), {})[row[2] or "(unreadable)"] = int(row[3])
    refusals: dict[SenderKey, list[Refusal]] = {}
    for row in await conn.execute(
        select(
            *sender,
            messages.c.outcome,
            func.coalesce(messages.c.error, "").label("reason"),
            func.coalesce(messages.c.error_location, "").label("at"),
            func.count().label("n"),
        )
        .where(window, messages.c.outcome.in_(("rejected", "failed")))
        .group_by(*keys, messages.c.outcome, "reason", "at")
    ):
        refusals.setdefault((row.app, row.fac), []).append(
            Refusal(row.outcome, _reason(row.outcome, row.reason), row.at, int(row.n))
        )
    lateness = await _lateness(conn, window, sender)
    scores = []
    for key in sorted(totals):
        row = totals[key]
        count = int(row["messages"])
        rejected, failed = int(row["rejected"]), int(row["failed"])
        listed = sorted(refusals.get(key, ()), key=lambda r: (-r.count, r.outcome, r.field))
        scores.append(
            SenderQuality(
                sending_application=key[0],
                sending_facility=key[1],
                protocol=row["protocol"],
                messages=count,
                received=int(row["received"]),
                by_type=dict(sorted(by_type.get(key, {}).items())),
                rejected=rejected,
                failed=failed,
                refused_share=(rejected + failed) / count if count else 0.0,
                refusals=_merged(listed),
                missing_fields={f: int(row[f"m{i}"]) for i, f in enumerate(FIELDS)},
                with_missing_fields=int(row["with_missing"]),
                lateness=lateness.get(key, Lateness(0, None, None)),
                resent_messages=int(row["resent_messages"]),
                resends=int(row["resends"]),
                reused_control_ids=int(row["reused"]),
                first_received_at=row["first"],
                last_received_at=row["last"],
            )
        )
    return scores


# What senders send; an operator's actions through the API are logged too, but are not a
# sender's data.
SENDER_PROTOCOLS = ("hl7v2", "dicom")


def _window(since: datetime | None, until: datetime | None) -> Any:
    conditions = [messages.c.protocol.in_(SENDER_PROTOCOLS)]
    if since is not None:
        conditions.append(messages.c.received_at >= at(since))
    if until is not None:
        conditions.append(messages.c.received_at < at(until))
    return and_(*conditions)


async def _totals(
    conn: AsyncConnection, window: Any, sender: tuple[Any, Any]
) -> dict[SenderKey, Mapping[str, Any]]:
    m = messages.c
    padded = literal(" ") + m.missing_fields + literal(" ")
    missing = [
        func.sum(case((padded.like(f"% {name} %"), 1), else_=0)).label(f"m{i}")
        for i, name in enumerate(FIELDS)
    ]
    statement = (
        select(
            *sender,
            func.min(m.protocol).label("protocol"),
            func.count().label("messages"),
            func.sum(m.receive_count).label("received"),
            func.sum(case((m.outcome == "rejected", 1), else_=0)).label("rejected"),
            func.sum(case((m.outcome == "failed", 1), else_=0)).label("failed"),
            func.sum(case((m.missing_fields != "", 1), else_=0)).label("with_missing"),
            *missing,
            func.sum(case((m.receive_count > 1, 1), else_=0)).label("resent_messages"),
            func.sum(m.receive_count - 1).label("resends"),
            func.sum(case((m.control_id_reused, 1), else_=0)).label("reused"),
            func.min(m.received_at).label("first"),
            func.max(m.received_at).label("last"),
        )
        .where(window)
        .group_by("app", "fac")
    )
    return {(row.app, row.fac): row._mapping for row in await conn.execute(statement)}


async def _lateness(
    conn: AsyncConnection, window: Any, sender: tuple[Any, Any]
) -> dict[SenderKey, Lateness]:
    # Whole seconds, each end floored: MSH-7 rarely says more, and the two databases keep
    # sub-second parts differently (SQLite to the millisecond), so they agree to the second.
    dialect = conn.dialect.name
    late = cast(
        epoch_seconds(dialect, messages.c.received_at) - epoch_seconds(dialect, messages.c.sent_at),
        Float,
    ).label("late")
    values = (
        select(*sender, late)
        .select_from(messages)
        .where(window, messages.c.sent_at.is_not(None))
        .subquery()
    )
    ranked = percentiles_by_group(values, ("app", "fac"), "late", LATENESS_PERCENTS)
    found = {}
    for row in (await conn.execute(select(ranked))).mappings():
        found[(row["app"], row["fac"])] = Lateness(
            int(row["n"]), float(row["p50"]), float(row["p90"])
        )
    return found


def _reason(outcome: str, reason: str) -> str:
    """The reason as the scorecard groups it: a failure by its kind alone (its detail is an
    internal error's text, which may quote values)."""
    if outcome == "failed":
        return reason.split(":", 1)[0] or "failed"
    return reason or "(no reason)"


def _merged(refusals: list[Refusal]) -> tuple[Refusal, ...]:
    """Refusals whose grouped reason is the same (two failures of one kind) counted once."""
    merged: dict[tuple[str, str, str], int] = {}
    for r in refusals:
        key = (r.outcome, r.reason, r.field)
        merged[key] = merged.get(key, 0) + r.count
    ordered = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Refusal(o, reason, f, n) for (o, reason, f), n in ordered)
