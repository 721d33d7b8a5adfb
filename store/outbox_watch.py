"""What the outbox owes for the passing of time rather than for a change: a study that still
matches no order a while after its first image (`unmatched_study`).

No message proves it, so no fold writes it: a leader-locked job asks the writer (`Ingest.run`)
to run `owe_unmatched_studies` now and then. The rows it adds are ordinary outbox rows, one per
subscribing webhook per study, each study announced once to a webhook while its row is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, literal, select

from store.fold.outbox import UNMATCHED_STUDY, WEBHOOK, Route, pending_row, study_key
from store.schema import outbox, studies


def owe_unmatched_studies(
    conn: Connection,
    *,
    routes: Sequence[Route],
    now: datetime,
    older_than: timedelta,
    limit: int = 500,
) -> int:
    """Add an `unmatched_study` row for each subscribing webhook and each study that matches
    no order `older_than` after its first image and was not announced to it yet; how many."""
    added = 0
    for route in routes:
        if route.kind != WEBHOOK or UNMATCHED_STUDY not in route.events:
            continue
        announced = (
            select(literal(1))
            .where(
                outbox.c.destination == route.name,
                outbox.c.event_type == UNMATCHED_STUDY,
                outbox.c.sequence_key == literal("study:") + studies.c.study_instance_uid,
            )
            .exists()
        )
        found = conn.execute(
            select(
                studies.c.study_instance_uid,
                studies.c.accession,
                studies.c.first_instance_at,
                studies.c.instance_count,
            )
            .where(
                studies.c.order_id.is_(None),
                studies.c.first_instance_at < now - older_than,
                ~announced,
            )
            .order_by(studies.c.first_instance_at)
            .limit(limit)
        ).all()
        rows = [_row(route, study, now) for study in found]
        if rows:
            conn.execute(insert(outbox), rows)
        added += len(rows)
    return added


def _row(route: Route, study: Sequence, now: datetime) -> dict:
    uid, accession, first_at, count = study
    data = {
        "study_instance_uid": uid,
        "accession": accession,
        "first_instance_at": first_at,
        "instance_count": count,
    }
    row = pending_row(route, UNMATCHED_STUDY, study_key(uid), occurred_at=now, data=data, now=now)
    return {**row, "event_id": str(uuid.uuid4())}
