"""What the outbox owes when a flow figure passes its goal while its end is still missing.

A STAT CT whose report is due within 60 minutes is news at minute 61, not when the report
finally arrives: no message proves that moment, so the fold cannot write it. A leader-locked
job asks the writer to run `owe_overdue_figures` now and then; each open figure is announced
once per subscribing webhook (`turnaround_over_goal` with `"open": true`). The fold still
announces the figure again when its late end arrives (`"open": false`, the final minutes).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from store.figures import FIGURES, goal_for, goal_rules
from store.fold.outbox import TURNAROUND_OVER_GOAL, WEBHOOK, Route, order_key, pending_row
from store.schema import orders, outbox

# An open figure is looked for this long past its longest goal: a figure left open for
# longer is a stale order, not news (and a first look must not announce years of them).
LOOKBACK = timedelta(days=1)


def owe_overdue_figures(
    conn: Connection,
    *,
    routes: Sequence[Route],
    goals: Mapping[str, float],
    now: datetime,
    limit: int = 500,
) -> int:
    """Add a `turnaround_over_goal` row for each subscribing webhook and each open figure
    past its goal that was not announced to it yet; how many rows were added."""
    subscribed = [r for r in routes if r.kind == WEBHOOK and TURNAROUND_OVER_GOAL in r.events]
    if not subscribed or not goals:
        return 0
    overdue = [fact for figure in FIGURES for fact in _overdue(conn, figure, goals, now, limit)]
    if not overdue:
        return 0
    keys = {order_key(fact["accession"]) for fact in overdue}
    rows = []
    for route in subscribed:
        told = _announced(conn, route.name, keys)
        for fact in overdue:
            key = order_key(fact["accession"])
            if (key, fact["figure"]) not in told:
                rows.append(
                    pending_row(
                        route, TURNAROUND_OVER_GOAL, key, occurred_at=fact["at"], data=fact, now=now
                    )
                )
    if rows:
        conn.execute(insert(outbox), [{**row, "event_id": str(uuid.uuid4())} for row in rows])
    return len(rows)


def _overdue(
    conn: Connection, figure: str, goals: Mapping[str, float], now: datetime, limit: int
) -> list[dict[str, Any]]:
    """The open figures of one kind past the goal that applies to each order."""
    rules = goal_rules(goals, figure)
    if not rules:
        return []
    start, end = (orders.c[name] for name in FIGURES[figure])
    shortest = min(rule.minutes for rule in rules)
    longest = max(rule.minutes for rule in rules)
    found = conn.execute(
        select(
            orders.c.accession,
            orders.c.modality,
            orders.c.priority,
            orders.c.patient_class,
            start.label("started"),
        )
        .where(
            start < now - timedelta(minutes=shortest),
            start > now - timedelta(minutes=longest) - LOOKBACK,
            end.is_(None),
            orders.c.cancelled_at.is_(None),
            orders.c.discontinued_at.is_(None),
        )
        .order_by(start)
        .limit(limit)
    ).all()
    facts = []
    for accession, modality, priority, patient_class, started in found:
        goal = goal_for(goals, figure, modality, priority, patient_class)
        if goal is None or started + timedelta(minutes=goal) >= now:
            continue
        facts.append(
            {
                "accession": accession,
                "figure": figure,
                "minutes": round((now - started).total_seconds() / 60, 1),
                "goal_minutes": goal,
                "open": True,
                "at": started + timedelta(minutes=goal),
            }
        )
    return facts


def _announced(conn: Connection, destination: str, keys: set[str]) -> set[tuple[str, str]]:
    """(order key, figure) pairs already owed to `destination` while the figure was open."""
    rows = conn.execute(
        select(outbox.c.sequence_key, outbox.c.data).where(
            outbox.c.destination == destination,
            outbox.c.event_type == TURNAROUND_OVER_GOAL,
            outbox.c.sequence_key.in_(sorted(keys)),
        )
    )
    told = set()
    for key, data in rows:
        fact = orjson.loads(data)
        if fact.get("open"):
            told.add((key, fact["figure"]))
    return told
