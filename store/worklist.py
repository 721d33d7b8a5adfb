"""The Modality Worklist: open orders that match a C-FIND query.

SQL narrows the candidates (by modality, identifiers, a name prefix, the start range and the
station, each never narrower than the standard's rule); the query's pure matcher
(`mappers/dicom/worklist_matching.py`) decides each one. Candidates are read in pages in
scheduled-start order until the answers are enough or none are left.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from mappers.dicom.worklist_stations import StationTable, keys_naming, scheduled_stations
from store.schema import orders, patients

# The patient's name as DICOM writes a PN, FAMILY^GIVEN[^MIDDLE]: what name patterns match.
_PATIENT_PN: ColumnElement[str] = (
    patients.c.family_name
    + literal("^")
    + patients.c.given_name
    + case((patients.c.middle_name != "", literal("^") + patients.c.middle_name), else_="")
)
# The scheduled start comes from SIU, TQ1 or OBR-27, else the order time (the expression of
# the worklist indexes, store/schema/workflow.py).
_scheduled_start: ColumnElement[datetime] = func.coalesce(
    orders.c.scheduled_start, orders.c.ordered_at
)
# Null exactly when the order is open: the first column of the start index, so that SQLite,
# without statistics, prefers that index (equality, then the start range) over the
# single-column "cancelled_at IS NULL" one, which holds most orders (0012).
_ended: ColumnElement[datetime] = func.coalesce(
    orders.c.exam_completed_at, orders.c.cancelled_at, orders.c.discontinued_at
)
_LIKE_ESCAPE = "!"
_NO_TABLE: StationTable = {}


async def find_worklist(
    conn: AsyncConnection,
    query: WorklistQuery,
    *,
    limit: int,
    stations: StationTable = _NO_TABLE,
) -> list[WorklistItem]:
    """Open orders (ordered, not completed, discontinued or cancelled) that match `query`, by
    scheduled start, at most `limit`; `stations` is the site's station table."""
    found: list[WorklistItem] = []
    after: tuple[datetime, int] | None = None
    while len(found) < limit:
        statement = worklist_statement(query, limit=limit, stations=stations, after=after)
        rows = (await conn.execute(statement)).mappings().all()
        for row in rows:
            item = _item(row, stations)
            if query.matcher is None or query.matcher.matches(item):
                found.append(item)
        if len(rows) < limit:
            break
        after = (rows[-1]["scheduled_start"], rows[-1]["order_id"])
    return found[:limit]


def worklist_statement(
    query: WorklistQuery,
    *,
    limit: int,
    stations: StationTable = _NO_TABLE,
    after: tuple[datetime, int] | None = None,
) -> Select:
    """The SELECT of one page of candidates. Its start expression and open-order conditions
    are those of the worklist indexes (store/schema/workflow.py), so that modality and start-range
    queries read an index range; `after` is the last (start, order id) of the page before."""
    conditions: list[ColumnElement[bool]] = [
        orders.c.ordered_at.is_not(None),
        orders.c.exam_completed_at.is_(None),
        orders.c.cancelled_at.is_(None),
        orders.c.discontinued_at.is_(None),
    ]
    if not query.modality:
        conditions.append(_ended.is_(None))  # the start index; by modality, its own index
    exact = {
        orders.c.modality: query.modality,
        patients.c.identifier: query.patient_id,
        orders.c.accession: query.accession,
        orders.c.requested_procedure_id: query.requested_procedure_id,
    }
    conditions += [column == value for column, value in exact.items() if value]
    if query.station_ae_title:
        conditions.append(_on_station(query.station_ae_title, stations))
    if query.patient_name:
        name, pattern = _PATIENT_PN, literal(query.patient_name)
        if query.patient_name_case_insensitive:
            name, pattern = func.lower(name), func.lower(pattern)
        conditions.append(name.like(pattern, escape="\\"))
    if query.start_from is not None:
        conditions.append(_scheduled_start >= query.start_from)
    if query.start_to is not None:
        conditions.append(_scheduled_start <= query.start_to)
    if after is not None:
        start, order_id = after
        conditions.append(
            or_(_scheduled_start > start, and_(_scheduled_start == start, orders.c.id > order_id))
        )

    statement = (
        select(
            orders.c.id.label("order_id"),
            orders.c.accession,
            orders.c.requested_procedure_id,
            orders.c.procedure_code,
            orders.c.procedure_text,
            orders.c.procedure_system,
            orders.c.study_instance_uid,
            orders.c.modality,
            orders.c.priority,
            _scheduled_start.label("scheduled_start"),
            orders.c.scheduled_stations,
            orders.c.scheduled_resource,
            orders.c.scheduled_station_name,
            orders.c.scheduled_step_id,
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
        .order_by(_scheduled_start, orders.c.id)
        .limit(limit)
    )
    return statement


def _on_station(ae_title: str, table: StationTable) -> ColumnElement[bool]:
    """Orders that may be scheduled on `ae_title`: named among the order's own stations, else
    its booked resource, else (by modality or code) in the station table."""
    escaped = "".join(
        _LIKE_ESCAPE + char if char in "%_" + _LIKE_ESCAPE else char for char in ae_title
    )
    among_own = (literal("\\") + orders.c.scheduled_stations + literal("\\")).like(
        f"%\\{escaped}\\%", escape=_LIKE_ESCAPE
    )
    none_own = orders.c.scheduled_stations == ""
    choices = [among_own, and_(none_own, orders.c.scheduled_resource == ae_title)]
    modalities, codes = keys_naming(table, ae_title)
    by_table = [
        orders.c.modality.in_(sorted(modalities)),
        orders.c.procedure_code.in_(sorted(codes)),
    ]
    if modalities or codes:
        choices.append(and_(none_own, orders.c.scheduled_resource == "", or_(*by_table)))
    return or_(*choices)


def _item(row: Mapping[str, Any], table: StationTable) -> WorklistItem:
    values = dict(row)
    del values["order_id"]
    stored, resource = values.pop("scheduled_stations"), values.pop("scheduled_resource")
    values["scheduled_station"] = scheduled_stations(
        stored, resource, values["modality"], values["procedure_code"], table
    )
    return WorklistItem(**values)
