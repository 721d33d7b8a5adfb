"""Integrity findings about orders, steps and reports: completed or reported with no images,
MPPS steps left IN PROGRESS, reports for orders never placed, no-show candidates.

Each check reads its candidates with one statement; `mappers.integrity` decides which are
findings and what evidence they carry. `now` is the caller's, as are the thresholds.
Studies are read in `store.reading.integrity_studies`, the PACS's outcome in
`store.reading.pacs`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import StepStatus
from mappers.integrity import (
    ACCESSION_REUSED,
    NO_IMAGES,
    NO_SHOW,
    OPEN_STEP,
    PACS_MISSING,
    PACS_UNORDERED,
    PACS_UNREACHABLE,
    PATIENT_MISMATCH,
    REPORT_WITHOUT_ORDER,
    UNORDERED_STUDY,
    Finding,
    Thresholds,
    appointment_end,
    order_link,
)
from store.reading.integrity_studies import patient_findings, unordered_studies
from store.reading.pacs import last_pacs_findings
from store.reading.sql import at
from store.schema import orders, procedure_steps, reports

# Each check reads at most this many candidates, the newest: a store with more is broken
# beyond what a list helps with.
MOST = 2000

_REPORTED = ("preliminary_report_at", "final_report_at")


async def find_integrity(
    conn: AsyncConnection,
    now: datetime,
    thresholds: Thresholds,
    *,
    kinds: Collection[str] = (),
    since: datetime | None = None,
) -> list[Finding]:
    """The findings of the kinds asked (every kind when none) as of `now`, those begun at or
    after `since` when given; a check whose kinds are not asked is not run."""

    def asked(*names: str) -> bool:
        return not kinds or any(name in kinds for name in names)

    found: list[Finding] = []
    if asked(NO_IMAGES):
        found += await no_images(conn, now, thresholds, since)
    if asked(UNORDERED_STUDY):
        found += await unordered_studies(conn, now, thresholds, since)
    if asked(PATIENT_MISMATCH, ACCESSION_REUSED):
        found += await patient_findings(conn, since)
    if asked(OPEN_STEP):
        found += await open_steps(conn, now, thresholds, since)
    if asked(REPORT_WITHOUT_ORDER):
        found += await reports_without_order(conn, since)
    if asked(NO_SHOW):
        found += await no_shows(conn, now, since)
    if asked(PACS_MISSING, PACS_UNORDERED, PACS_UNREACHABLE):
        found += await last_pacs_findings(conn)
    return found


def _open(columns: Any) -> list[Any]:
    """Conditions of a placed order that is not cancelled or discontinued."""
    return [
        columns.ordered_at.is_not(None),
        columns.cancelled_at.is_(None),
        columns.discontinued_at.is_(None),
    ]


async def no_images(
    conn: AsyncConnection, now: datetime, thresholds: Thresholds, since: datetime | None
) -> list[Finding]:
    """Orders completed (MPPS) or reported longer ago than the threshold, with no image."""
    o = orders.c
    cutoff = at(now - thresholds.images_after)
    proofs = (o.exam_completed_at, o.preliminary_report_at, o.final_report_at)
    statement = (
        select(o.accession, o.modality, o.status, o.study_instance_uid, *proofs)
        .where(
            *_open(o),
            o.images_available_at.is_(None),
            or_(*(proof < cutoff for proof in proofs)),
        )
        .order_by(o.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.where(or_(*(proof >= at(since) for proof in proofs)))
    found = []
    for row in (await conn.execute(statement)).mappings():
        completed = row["exam_completed_at"]
        reported = min((row[c] for c in _REPORTED if row[c] is not None), default=None)
        began = min(t for t in (completed, reported) if t is not None)
        found.append(
            Finding(
                NO_IMAGES,
                began,
                accession=row["accession"],
                study_instance_uid=row["study_instance_uid"],
                modality=row["modality"],
                link=order_link(row["accession"]),
                evidence={
                    "status": row["status"],
                    "exam_completed_at": completed,
                    "reported_at": reported,
                    "minutes_without_images": int((now - began).total_seconds() // 60),
                },
            )
        )
    return found


async def open_steps(
    conn: AsyncConnection, now: datetime, thresholds: Thresholds, since: datetime | None
) -> list[Finding]:
    """MPPS steps IN PROGRESS for longer than the threshold."""
    s = procedure_steps.c
    began = func.coalesce(s.started_at, s.created_at)
    statement = (
        select(
            s.sop_instance_uid,
            s.accession,
            s.study_instance_uid,
            s.station_ae_title,
            s.modality,
            began.label("began"),
            func.coalesce(orders.c.accession, "").label("order_accession"),
        )
        .select_from(procedure_steps.outerjoin(orders, s.order_id == orders.c.id))
        .where(
            s.status == StepStatus.IN_PROGRESS.value,
            began < at(now - thresholds.open_step_after),
        )
        .order_by(s.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.where(began >= at(since))
    found = []
    for row in (await conn.execute(statement)).mappings():
        accession = row["order_accession"] or row["accession"]
        found.append(
            Finding(
                OPEN_STEP,
                row["began"],
                accession=accession,
                study_instance_uid=row["study_instance_uid"],
                modality=row["modality"],
                link=order_link(row["order_accession"]) if row["order_accession"] else None,
                evidence={
                    "step": row["sop_instance_uid"],
                    "station_ae_title": row["station_ae_title"],
                    "started_at": row["began"],
                    "hours_open": round((now - row["began"]).total_seconds() / 3600, 1),
                },
            )
        )
    return found


async def reports_without_order(conn: AsyncConnection, since: datetime | None) -> list[Finding]:
    """Reports whose accession names an order no order message ever placed."""
    r = reports.c
    first = func.min(r.result_at).label("first_report_at")
    statement = (
        select(
            orders.c.accession,
            orders.c.modality,
            first,
            func.count().label("reports"),
        )
        .select_from(orders.join(reports, r.order_id == orders.c.id))
        .where(orders.c.ordered_at.is_(None))
        .group_by(orders.c.id, orders.c.accession, orders.c.modality)
        .order_by(orders.c.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.having(func.min(r.result_at) >= at(since))
    rows = (await conn.execute(statement)).mappings().all()
    statuses = await _report_statuses(conn, [row["accession"] for row in rows])
    return [
        Finding(
            REPORT_WITHOUT_ORDER,
            row["first_report_at"],
            accession=row["accession"],
            modality=row["modality"],
            link=order_link(row["accession"]),
            evidence={
                "reports": row["reports"],
                "statuses": statuses.get(row["accession"], []),
                "first_report_at": row["first_report_at"],
            },
        )
        for row in rows
    ]


async def _report_statuses(conn: AsyncConnection, accessions: Sequence[str]) -> dict[str, list]:
    if not accessions:
        return {}
    statement = (
        select(orders.c.accession, reports.c.status)
        .select_from(orders.join(reports, reports.c.order_id == orders.c.id))
        .where(orders.c.accession.in_(accessions))
        .order_by(reports.c.result_at, reports.c.id)
    )
    statuses: dict[str, list] = {}
    for accession, status in await conn.execute(statement):
        statuses.setdefault(accession, []).append(status)
    return statuses


async def no_shows(conn: AsyncConnection, now: datetime, since: datetime | None) -> list[Finding]:
    """Orders whose appointment is over with no arrival and no exam: no-show candidates
    (one the RIS already declared a no-show is no candidate)."""
    o = orders.c
    statement = (
        select(
            o.accession,
            o.modality,
            o.scheduled_start,
            o.scheduled_duration_minutes,
            o.scheduled_resource,
        )
        .where(
            *_open(o),
            o.scheduled_start < at(now),
            o.no_show_at.is_(None),
            o.arrived_at.is_(None),
            o.exam_started_at.is_(None),
            o.exam_completed_at.is_(None),
            o.images_available_at.is_(None),
            ~exists().where(procedure_steps.c.order_id == o.id),
        )
        .order_by(o.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.where(o.scheduled_start >= at(since))
    found = []
    for row in (await conn.execute(statement)).mappings():
        ends = appointment_end(row["scheduled_start"], row["scheduled_duration_minutes"])
        if ends >= now:
            continue  # the appointment is still under way
        found.append(
            Finding(
                NO_SHOW,
                row["scheduled_start"],
                accession=row["accession"],
                modality=row["modality"],
                link=order_link(row["accession"]),
                evidence={
                    "scheduled_start": row["scheduled_start"],
                    "scheduled_end": ends,
                    "resource": row["scheduled_resource"],
                },
            )
        )
    return found
