"""The unmatched list: studies and procedure steps that match no order, and placeholder orders
(known by an accession only, never placed), newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from store.paging import Page, after_key, page_of
from store.reading.sql import at
from store.schema import devices, orders, patients, procedure_steps, studies

UNMATCHED_KINDS = ("study", "procedure_step", "order")


@dataclass(frozen=True, slots=True)
class UnmatchedItem:
    """A study or procedure step that matches no order, or a placeholder order never placed."""

    kind: str  # study, procedure_step or order
    id: int
    accession: str
    study_instance_uid: str
    patient_identifier: str
    patient_authority: str
    first_seen: datetime
    device: str
    status: str  # the step's or order's status; "" for a study


async def list_unmatched(
    conn: AsyncConnection,
    *,
    kinds: Sequence[str] = UNMATCHED_KINDS,
    after: tuple[datetime, str, int] | None,
    limit: int,
) -> Page[UnmatchedItem]:
    """Unmatched items newest first by (first_seen, kind, id); one statement."""
    branches = [_BRANCHES[kind]() for kind in UNMATCHED_KINDS if kind in kinds]
    listed = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("unmatched")
    statement = select(listed)
    if after is not None:
        seen, kind, item_id = after
        sort = (listed.c.first_seen, listed.c.kind, listed.c.id)
        statement = statement.where(after_key(sort, (at(seen), kind, item_id), (True, False, True)))
    statement = statement.order_by(
        listed.c.first_seen.desc(), listed.c.kind, listed.c.id.desc()
    ).limit(limit + 1)
    rows = (await conn.execute(statement)).mappings()
    items = [((row["first_seen"], row["kind"], row["id"]), UnmatchedItem(**row)) for row in rows]
    return page_of(items, limit)


def _studies() -> Select[Any]:
    return (
        select(
            literal("study", String).label("kind"),
            studies.c.id,
            studies.c.accession,
            studies.c.study_instance_uid,
            studies.c.patient_identifier,
            studies.c.patient_authority,
            studies.c.first_instance_at.label("first_seen"),
            func.coalesce(devices.c.ae_title, "").label("device"),
            literal("", String).label("status"),
        )
        .select_from(studies.outerjoin(devices, studies.c.device_id == devices.c.id))
        .where(studies.c.order_id.is_(None))
    )


def _steps() -> Select[Any]:
    steps = procedure_steps.c
    return (
        select(
            literal("procedure_step", String).label("kind"),
            steps.id,
            steps.accession,
            steps.study_instance_uid,
            literal("", String).label("patient_identifier"),
            literal("", String).label("patient_authority"),
            steps.created_at.label("first_seen"),
            func.coalesce(devices.c.ae_title, steps.station_ae_title).label("device"),
            steps.status,
        )
        .select_from(procedure_steps.outerjoin(devices, steps.device_id == devices.c.id))
        .where(steps.order_id.is_(None))
    )


def _orders() -> Select[Any]:
    return (
        select(
            literal("order", String).label("kind"),
            orders.c.id,
            orders.c.accession,
            orders.c.study_instance_uid,
            func.coalesce(patients.c.identifier, "").label("patient_identifier"),
            func.coalesce(patients.c.authority, "").label("patient_authority"),
            orders.c.created_at.label("first_seen"),
            literal("", String).label("device"),
            orders.c.status,
        )
        .select_from(orders.outerjoin(patients, orders.c.patient_id == patients.c.id))
        .where(orders.c.ordered_at.is_(None))
    )


_BRANCHES = {"study": _studies, "procedure_step": _steps, "order": _orders}
