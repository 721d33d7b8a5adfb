"""Where each FHIR resource type's rows come from: tables, joins, and the columns its search
parameters narrow. `store.fhir` reads and searches through this table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    func,
    select,
)

from mappers.fhir.audit_event import AuditRow
from mappers.fhir.rows import (
    DeviceRow,
    OrderRow,
    PatientRow,
    ReportRow,
    StepRow,
    StudyRow,
)
from mappers.fhir.vocabulary import (
    ACCESSION,
    AE_TITLE,
    DICOM_UID,
    FILLER,
    PATIENT_ID,
    PLACER,
    IdentifierKind,
    ResourceType,
)
from store.schema import (
    audit_events,
    device_transitions,
    devices,
    orders,
    patients,
    procedure_steps,
    reports,
    studies,
)


@dataclass(frozen=True)
class Source:
    """Where a resource type's rows come from and which columns its parameters narrow."""

    row: type[Any]
    from_: FromClause
    columns: tuple[ColumnElement[Any], ...]
    id: ColumnElement[int]
    updated: ColumnElement[Any]
    date: ColumnElement[Any] | None = None
    status: ColumnElement[str] | None = None
    patient: ColumnElement[int] | None = None
    identifiers: Mapping[IdentifierKind, ColumnElement[str]] = dataclasses.field(
        default_factory=dict
    )
    searched: tuple[ColumnElement[bool], ...] = ()  # what every search (not a read) adds
    # How `patient=` narrows, when `patient IN (...)` would defeat the indexes.
    patient_match: Callable[[Select[Any]], ColumnElement[bool]] | None = None


named_patient = patients.alias("named_patient")  # a patient an identifier search names
_study_patient = patients.alias("study_patient")  # the patient a study's images name
included_patient = patients.alias("included_patient")  # a patient `_include` adds
INCLUDED_PREFIX = "included_"


def _columns(
    row: type[Any], *tables: FromClause, **special: ColumnElement[Any]
) -> tuple[ColumnElement[Any], ...]:
    """A row type's fields as labelled columns: `special` first, else the first table's."""
    columns = []
    for item in dataclasses.fields(row):
        if item.name == "series":
            continue
        column = special.get(item.name)
        if column is None:
            column = next(t.c[item.name] for t in tables if item.name in t.c)
        columns.append(column.label(item.name))
    return tuple(columns)


_orders_of_reports = reports.join(orders, reports.c.order_id == orders.c.id)
_orders_of_steps = procedure_steps.outerjoin(orders, procedure_steps.c.order_id == orders.c.id)
_study_sources = studies.outerjoin(orders, studies.c.order_id == orders.c.id).outerjoin(
    _study_patient,
    and_(
        studies.c.patient_identifier != "",
        _study_patient.c.identifier == studies.c.patient_identifier,
        _study_patient.c.authority == studies.c.patient_authority,
    ),
)
_study_patient_id = func.coalesce(
    orders.c.patient_id, _study_patient.c.merged_into_id, _study_patient.c.id
)
_images_patient = patients.alias("images_patient")


def _studies_of(survivors: Select[Any]) -> ColumnElement[bool]:
    """Studies of these patients: through their order, or, for a study with no order, by the
    identifier its images carry. A filter on `_study_patient_id` would sit across two outer
    joins where no index serves it (1.8 s at 300,000 studies; this, under a millisecond)."""
    through_orders = (
        select(studies.c.id)
        .join(orders, studies.c.order_id == orders.c.id)
        .where(orders.c.patient_id.in_(survivors))
    )
    by_images = (
        select(studies.c.id)
        .join(
            _images_patient,
            and_(
                _images_patient.c.identifier == studies.c.patient_identifier,
                _images_patient.c.authority == studies.c.patient_authority,
            ),
        )
        .where(
            studies.c.order_id.is_(None),
            studies.c.patient_identifier != "",
            func.coalesce(_images_patient.c.merged_into_id, _images_patient.c.id).in_(survivors),
        )
    )
    return studies.c.id.in_(through_orders.union(by_images))


# The prober's last recorded state of a device ("" when never probed).
_device_state = func.coalesce(
    select(device_transitions.c.state)
    .where(device_transitions.c.device_id == devices.c.id)
    .order_by(device_transitions.c.id.desc())
    .limit(1)
    .scalar_subquery(),
    "",
)

SOURCES: dict[ResourceType, Source] = {
    ResourceType.PATIENT: Source(
        PatientRow,
        patients,
        _columns(PatientRow, patients),
        patients.c.id,
        patients.c.updated_at,
        identifiers={PATIENT_ID: patients.c.identifier},
        searched=(patients.c.merged_into_id.is_(None),),
    ),
    ResourceType.SERVICE_REQUEST: Source(
        OrderRow,
        orders,
        _columns(OrderRow, orders),
        orders.c.id,
        orders.c.updated_at,
        date=orders.c.ordered_at,
        status=orders.c.status,
        patient=orders.c.patient_id,
        identifiers={
            ACCESSION: orders.c.accession,
            PLACER: orders.c.placer_number,
            FILLER: orders.c.filler_number,
        },
    ),
    ResourceType.IMAGING_STUDY: Source(
        StudyRow,
        _study_sources,
        _columns(StudyRow, studies, patient_id=_study_patient_id),
        studies.c.id,
        studies.c.updated_at,
        date=studies.c.study_started_at,
        status=case((studies.c.instance_count > 0, "available"), else_="registered"),
        patient=_study_patient_id,
        identifiers={DICOM_UID: studies.c.study_instance_uid, ACCESSION: studies.c.accession},
        patient_match=_studies_of,
    ),
    ResourceType.DIAGNOSTIC_REPORT: Source(
        ReportRow,
        _orders_of_reports,
        _columns(ReportRow, reports, orders),
        reports.c.id,
        reports.c.recorded_at,
        date=reports.c.result_at,
        status=reports.c.status,
        patient=orders.c.patient_id,
        identifiers={ACCESSION: orders.c.accession},
    ),
    ResourceType.DEVICE: Source(
        DeviceRow,
        devices,
        _columns(DeviceRow, devices, state=_device_state),
        devices.c.id,
        devices.c.updated_at,
        identifiers={AE_TITLE: devices.c.ae_title},
    ),
    ResourceType.AUDIT_EVENT: Source(
        AuditRow,
        audit_events,
        _columns(AuditRow, audit_events),
        audit_events.c.id,
        audit_events.c.recorded_at,
        date=audit_events.c.recorded_at,
    ),
    ResourceType.PROCEDURE: Source(
        StepRow,
        _orders_of_steps,
        _columns(StepRow, procedure_steps, orders),
        procedure_steps.c.id,
        procedure_steps.c.updated_at,
        date=procedure_steps.c.started_at,
        status=procedure_steps.c.status,
        patient=orders.c.patient_id,
        identifiers={
            DICOM_UID: procedure_steps.c.sop_instance_uid,
            ACCESSION: procedure_steps.c.accession,
        },
    ),
}
