"""The Modality Worklist: open orders matching a C-FIND query, in one statement."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from store.schema import orders, patients

# The patient's name as DICOM writes a PN, FAMILY^GIVEN[^MIDDLE]: what name patterns match.
_PATIENT_PN: ColumnElement[str] = (
    patients.c.family_name
    + literal("^")
    + patients.c.given_name
    + case((patients.c.middle_name != "", literal("^") + patients.c.middle_name), else_="")
)


async def find_worklist(
    conn: AsyncConnection, query: WorklistQuery, *, limit: int
) -> list[WorklistItem]:
    """Open orders (ordered, not completed, discontinued or cancelled) that match `query`,
    by scheduled start."""
    rows = await conn.execute(worklist_statement(query, limit=limit))
    return [WorklistItem(**row) for row in rows.mappings()]


def worklist_statement(query: WorklistQuery, *, limit: int) -> Select:
    """The SELECT behind `find_worklist`. Its start expression and open-order conditions are
    those of the worklist indexes (store/schema.py), so that station and modality queries
    read an index range."""
    # The scheduled start comes from SIU, TQ1 or OBR-27, else the order time.
    scheduled_start = func.coalesce(orders.c.scheduled_start, orders.c.ordered_at)
    conditions = [
        orders.c.ordered_at.is_not(None),
        orders.c.exam_completed_at.is_(None),
        orders.c.cancelled_at.is_(None),
        orders.c.discontinued_at.is_(None),
    ]
    exact = {
        orders.c.scheduled_resource: query.station_ae_title,
        orders.c.modality: query.modality,
        patients.c.identifier: query.patient_id,
        orders.c.accession: query.accession,
        orders.c.requested_procedure_id: query.requested_procedure_id,
    }
    conditions += [column == value for column, value in exact.items() if value]
    if query.patient_name:
        name, pattern = _PATIENT_PN, literal(query.patient_name)
        if query.patient_name_case_insensitive:
            name, pattern = func.lower(name), func.lower(pattern)
        conditions.append(name.like(pattern, escape="\\"))
    if query.start_from is not None:
        conditions.append(scheduled_start >= query.start_from)
    if query.start_to is not None:
        conditions.append(scheduled_start <= query.start_to)

    return (
        select(
            orders.c.accession,
            orders.c.requested_procedure_id,
            orders.c.procedure_code,
            orders.c.procedure_text,
            orders.c.procedure_system,
            orders.c.study_instance_uid,
            orders.c.modality,
            orders.c.priority,
            scheduled_start.label("scheduled_start"),
            orders.c.scheduled_resource.label("scheduled_station"),
            orders.c.scheduled_duration_minutes,
            orders.c.ordering_provider_family.label("referring_physician_family"),
            orders.c.ordering_provider_given.label("referring_physician_given"),
            patients.c.identifier.label("patient_id"),
            patients.c.authority.label("patient_authority"),
            patients.c.family_name.label("patient_family"),
            patients.c.given_name.label("patient_given"),
            patients.c.middle_name.label("patient_middle"),
            patients.c.birth_date,
            patients.c.sex,
            orders.c.reason,
        )
        .select_from(orders.join(patients, orders.c.patient_id == patients.c.id))
        .where(and_(*conditions))
        .order_by(scheduled_start, orders.c.id)
        .limit(limit)
    )
