"""Reads and searches for the FHIR facade; each takes a connection and returns frozen rows.

Statements per request: a read is one; a search is one (the page, with the total as an
uncorrelated scalar subquery and the `_include`d patients joined in), plus a COUNT only when a
later page comes back empty (`_count=0` is the COUNT alone); ImagingStudy adds one statement
for the series of the whole page (an IN list).

A study's patient is its order's, else the patient whose identifier and authority its images
carry, followed through a merge. A Patient search leaves merged patients out (a read shows
one, linked to its survivor); an identifier search finds the survivor by a merged patient's
identifier too, and `patient=<merged id>` finds the survivor's resources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.fhir.rows import (
    PatientRow,
    ResourceRow,
    SeriesRow,
    StudyRow,
)
from mappers.fhir.search import (
    Clause,
    IdentifierMatch,
    Interval,
    SearchQuery,
    Sort,
    SortKey,
)
from mappers.fhir.search_table import Field
from mappers.fhir.vocabulary import (
    PATIENT_ID,
    ResourceType,
)
from store.fhir_sources import INCLUDED_PREFIX, SOURCES, Source, included_patient, named_patient
from store.paging import after_key
from store.schema import (
    series,
    studies,
)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of matches, the patients `_include` asked for, the total, and the next key."""

    matches: tuple[ResourceRow, ...]
    included: tuple[PatientRow, ...]
    total: int
    next_key: SortKey | None


_PATIENT_FIELDS = [item.name for item in dataclasses.fields(PatientRow)]


async def read_resource(
    conn: AsyncConnection, resource_type: ResourceType, row_id: int
) -> ResourceRow | None:
    """The row behind `{resource_type}/{row_id}`, or None; merged patients included."""
    source = SOURCES[resource_type]
    statement = select(*source.columns).select_from(source.from_).where(source.id == row_id)
    row = (await conn.execute(statement)).mappings().first()
    if row is None:
        return None
    found = (_to_row(source, row),)
    return (await _with_series(conn, found))[0] if source.row is StudyRow else found[0]


async def search_resources(conn: AsyncConnection, query: SearchQuery) -> SearchResult:
    """One page of a search, its total and the patients it includes."""
    source = SOURCES[query.type]
    conditions = [*source.searched, *(_condition(source, clause) for clause in query.clauses)]
    counted = select(func.count()).select_from(source.from_).where(*conditions)
    if query.count == 0:
        return SearchResult((), (), await conn.scalar(counted) or 0, None)
    sort_column = _sort_column(source, query.sort)
    statement = _page(source, query, conditions, sort_column, counted)
    rows = (await conn.execute(statement)).mappings().all()
    if not rows:
        total = 0 if query.after is None else await conn.scalar(counted) or 0
        return SearchResult((), (), total, None)
    shown = rows[: query.count]
    matches = tuple(_to_row(source, row) for row in shown)
    if source.row is StudyRow:
        matches = await _with_series(conn, matches)
    next_key = None
    if len(rows) > query.count:
        last = shown[-1]
        next_key = (None if sort_column is None else last["sort_time"], last["id"])
    return SearchResult(matches, _included_patients(shown), rows[0]["total"], next_key)


def _page(
    source: Source,
    query: SearchQuery,
    conditions: list[ColumnElement[bool]],
    sort_column: ColumnElement[Any] | None,
    counted: Select[Any],
) -> Select[Any]:
    """The page statement: the rows after the cursor, one more than asked, with the total."""
    columns: list[ColumnElement[Any]] = [
        *source.columns,
        counted.correlate(None).scalar_subquery().label("total"),
    ]
    from_ = source.from_
    if sort_column is not None:
        columns.append(sort_column.label("sort_time"))
    if query.include_patient and source.patient is not None:
        columns += [
            included_patient.c[name].label(INCLUDED_PREFIX + name) for name in _PATIENT_FIELDS
        ]
        from_ = from_.outerjoin(included_patient, included_patient.c.id == source.patient)
    where = list(conditions)
    if query.after is not None:
        where.append(_after(sort_column, source.id, query.after, query.sort.descending))
    if sort_column is None:
        order = [source.id.desc() if query.sort.descending else source.id.asc()]
    elif query.sort.descending:
        order = [sort_column.desc().nulls_last(), source.id.desc()]
    else:
        order = [sort_column.asc().nulls_last(), source.id.asc()]
    return select(*columns).select_from(from_).where(*where).order_by(*order).limit(query.count + 1)


def _sort_column(source: Source, sort: Sort) -> ColumnElement[Any] | None:
    return {Field.DATE: source.date, Field.LAST_UPDATED: source.updated}.get(sort.field)


def _after(
    time: ColumnElement[Any] | None, row_id: ColumnElement[int], key: SortKey, descending: bool
) -> ColumnElement[bool]:
    """Rows after `key` in (time [DESC] NULLS LAST, id [DESC]) order."""
    if time is None:
        return after_key((row_id,), (key[1],), (descending,))
    return after_key((time, row_id), key, (descending, descending), (True, False))


def _condition(source: Source, clause: Clause) -> ColumnElement[bool]:
    """The SQL condition of one clause: any of its values matches."""
    if not clause.values:
        return false()
    match clause.field:
        case Field.ID:
            return source.id.in_(clause.values)
        case Field.PATIENT:
            assert source.patient is not None
            # A merged patient's id names its survivor, as its identifier does.
            survivors = select(
                func.coalesce(named_patient.c.merged_into_id, named_patient.c.id)
            ).where(named_patient.c.id.in_(clause.values))
            if source.patient_match is not None:
                return source.patient_match(survivors)
            return source.patient.in_(survivors)
        case Field.STATUS:
            assert source.status is not None
            return source.status.in_(clause.values)
        case Field.DATE | Field.LAST_UPDATED:
            column = source.updated if clause.field is Field.LAST_UPDATED else source.date
            assert column is not None
            return or_(*(_within(column, value) for value in clause.values))
        case Field.MODALITY:
            return exists(
                select(series.c.id).where(
                    series.c.study_id == studies.c.id, series.c.modality.in_(clause.values)
                )
            )
        case Field.IDENTIFIER:
            return or_(*(_identifier(source, value) for value in clause.values))
    raise AssertionError(f"no condition for {clause.field}")


def _within(column: ColumnElement[Any], interval: Any) -> ColumnElement[bool]:
    assert isinstance(interval, Interval)
    bounds = []
    if interval.start is not None:
        bounds.append(column >= interval.start)
    if interval.end is not None:
        bounds.append(column < interval.end)
    return and_(*bounds)


def _identifier(source: Source, match: Any) -> ColumnElement[bool]:
    assert isinstance(match, IdentifierMatch)
    if match.kind is PATIENT_ID:
        named = [named_patient.c.identifier == match.value]
        if match.authority is not None:
            named.append(named_patient.c.authority == match.authority)
        survivor = func.coalesce(named_patient.c.merged_into_id, named_patient.c.id)
        return source.id.in_(select(survivor).where(*named))
    return source.identifiers[match.kind] == match.value


def _to_row(source: Source, row: Mapping[str, Any]) -> ResourceRow:
    return source.row(**{column.name: row[column.name] for column in source.columns})


def _included_patients(rows: Sequence[Mapping[str, Any]]) -> tuple[PatientRow, ...]:
    """The distinct patients joined in for `_include`, in order of first appearance."""
    found: dict[int, PatientRow] = {}
    for row in rows:
        patient_id = row.get(INCLUDED_PREFIX + "id")
        if patient_id is not None and patient_id not in found:
            found[patient_id] = PatientRow(
                **{name: row[INCLUDED_PREFIX + name] for name in _PATIENT_FIELDS}
            )
    return tuple(found.values())


async def _with_series(
    conn: AsyncConnection, found: Sequence[ResourceRow]
) -> tuple[ResourceRow, ...]:
    """Studies with their series, all fetched in one statement."""
    study_ids = [row.id for row in found]
    rows = await conn.execute(
        select(
            series.c.study_id,
            series.c.series_instance_uid,
            series.c.modality,
            series.c.body_part,
            series.c.instance_count,
        )
        .where(series.c.study_id.in_(study_ids))
        .order_by(series.c.study_id, series.c.id)
    )
    by_study: dict[int, list[SeriesRow]] = {}
    for study_id, *values in rows:
        by_study.setdefault(study_id, []).append(SeriesRow(*values))
    return tuple(dataclasses.replace(row, series=tuple(by_study.get(row.id, ()))) for row in found)
