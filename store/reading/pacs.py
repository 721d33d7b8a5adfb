"""What the PACS reconciler reads: the orders that should have images in a window, which of
the PACS's studies some order explains, and the last reconciliation's findings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.integrity import Finding, PacsOutcome, pacs_findings
from store.reading.sql import at
from store.schema import orders, pacs_checks, patients, studies


async def expected_studies(
    conn: AsyncConnection, first: datetime, last: datetime
) -> list[tuple[str, str, str]]:
    """(accession, Study Instance UID, patient identifier) of every order completed, or
    with images, in [first, last): the studies the PACS should hold."""
    o = orders.c
    began = func.coalesce(o.exam_completed_at, o.images_available_at)
    linked = (
        select(studies.c.order_id, func.min(studies.c.study_instance_uid).label("uid"))
        .where(studies.c.order_id.is_not(None))
        .group_by(studies.c.order_id)
        .subquery()
    )
    statement = (
        select(
            o.accession,
            func.coalesce(linked.c.uid, o.study_instance_uid).label("uid"),
            func.coalesce(patients.c.identifier, "").label("patient"),
        )
        .select_from(
            orders.outerjoin(linked, linked.c.order_id == o.id).outerjoin(
                patients, o.patient_id == patients.c.id
            )
        )
        .where(
            o.cancelled_at.is_(None),
            o.discontinued_at.is_(None),
            began >= at(first),
            began < at(last),
        )
        .order_by(o.id)
    )
    return [tuple(row) for row in await conn.execute(statement)]


async def known_to_orders(
    conn: AsyncConnection, uids: Iterable[str], accessions: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Of these Study Instance UIDs and accessions, those some order explains: the UIDs of
    studies linked to an order or named by one, and the accessions of placed orders."""
    uids, accessions = sorted(set(uids) - {""}), sorted(set(accessions) - {""})
    known_uids: set[str] = set()
    known_accessions: set[str] = set()
    if uids:
        linked = select(studies.c.study_instance_uid).where(
            studies.c.study_instance_uid.in_(uids), studies.c.order_id.is_not(None)
        )
        named = select(orders.c.study_instance_uid).where(orders.c.study_instance_uid.in_(uids))
        known_uids = {uid for (uid,) in await conn.execute(linked.union(named))}
    if accessions:
        placed = select(orders.c.accession).where(
            orders.c.accession.in_(accessions),
            or_(orders.c.ordered_at.is_not(None), orders.c.cancelled_at.is_not(None)),
        )
        known_accessions = {a for (a,) in await conn.execute(placed)}
    return known_uids, known_accessions


async def last_pacs_outcome(conn: AsyncConnection) -> PacsOutcome | None:
    """The newest reconciliation recorded, or None before the first."""
    c = pacs_checks.c
    statement = select(pacs_checks).order_by(c.checked_at.desc(), c.id.desc()).limit(1)
    row = (await conn.execute(statement)).mappings().first()
    if row is None:
        return None
    return PacsOutcome(
        checked_at=row["checked_at"],
        reachable=row["reachable"],
        error=row["error"],
        window_first=row["window_first"],
        window_last=row["window_last"],
        missing=orjson.loads(row["missing"]),
        unordered=orjson.loads(row["unordered"]),
    )


async def last_pacs_findings(conn: AsyncConnection) -> list[Finding]:
    """The findings of the newest reconciliation."""
    outcome = await last_pacs_outcome(conn)
    if outcome is None:
        return []
    accessions = [item["accession"] for item in outcome.missing]
    modality_of: dict[str, str] = {}
    if accessions:
        statement = select(orders.c.accession, orders.c.modality).where(
            orders.c.accession.in_(accessions)
        )
        modality_of = {a: m for a, m in await conn.execute(statement)}
    return pacs_findings(outcome, modality_of)
