"""Apply mapped events to the workflow tables, inside the caller's transaction.

This is plain synchronous code on a synchronous connection, so that a whole batch of messages
runs in one call: on SQLite in the ingest writer's own thread, on PostgreSQL through
`AsyncConnection.run_sync`. No statement pays an event-loop round trip of its own.

Arrival order is not trusted (DESIGN.md), so every rule here gives the same final state in
whatever order the messages come:
- a milestone takes the earliest time any message proves for it, and each time it moves a
  timeline row names the message that moved it;
- details (an order's, a patient's demographics, an appointment) come from the newest message
  by its own time, whichever arrives last;
- an event for an accession not seen yet creates a placeholder order that the new-order
  message later completes, so a report or a cancel that comes first is kept and applied;
- a merged patient's identifier resolves to the survivor from then on, and
- an arrival (ADT^A10) is kept and applies to the patient's orders placed within a day of it,
  before or after;
- DICOM studies and procedure steps that match no order yet are kept unmatched and link to
  the order, setting its milestones, when it is placed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from mappers.events import (
    PROGRESS,
    AppointmentCancelled,
    DeviceSeen,
    Event,
    InstanceStored,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientId,
    PatientNoShow,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    ProcedureScheduled,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ReportIssued,
    ReportStatus,
    ScheduledStep,
    StepStatus,
    Visit,
)
from store.dialect import upsert
from store.errors import EventRejected, Rejection
from store.schema import (
    devices,
    instances,
    order_timeline,
    orders,
    patient_arrivals,
    patients,
    procedure_steps,
    reports,
    series,
    studies,
)

# An arrival belongs to the orders placed within this long of it, either side.
ARRIVAL_WINDOW = timedelta(hours=24)

_REPORT_MILESTONES = {
    ReportStatus.PRELIMINARY: Milestone.PRELIMINARY_REPORT,
    ReportStatus.FINAL: Milestone.FINAL_REPORT,
    ReportStatus.CORRECTED: Milestone.FINAL_REPORT,
}


@dataclass(slots=True)
class ApplyContext:
    """What one message's events share while they are applied."""

    conn: Connection
    message_id: int
    now: datetime
    patient_ids: dict[PatientId, int] = field(default_factory=dict)


def apply_events(
    conn: Connection, events: Sequence[Event], *, message_id: int, now: datetime
) -> None:
    """Apply each event in order; the caller owns (and commits) the transaction."""
    ctx = ApplyContext(conn=conn, message_id=message_id, now=now)
    for event in events:
        match event:
            case PatientUpserted():
                _upsert_patient(ctx, event)
            case PatientsMerged():
                _merge_patients(ctx, event)
            case PatientArrived():
                _record_arrival(ctx, event)
            case OrderPlaced():
                _place_order(ctx, event)
            case OrderChanged():
                _upsert_order(ctx, event.accession, event.patient, event.details, event.changed_at)
            case MilestoneReached():
                order_id = _order_id(ctx, event.accession)
                set_milestone(ctx, order_id, event.milestone, event.occurred_at)
            case ProcedureScheduled():
                _schedule(ctx, event)
            case AppointmentCancelled():
                _cancel_appointment(ctx, event)
            case PatientNoShow():
                _no_show(ctx, event)
            case ReportIssued():
                _issue_report(ctx, event)
            case DeviceSeen():
                _device_id(ctx, event)
            case InstanceStored():
                _store_instance(ctx, event)
            case ProcedureStepCreated():
                _create_step(ctx, event)
            case ProcedureStepUpdated():
                _update_step(ctx, event)
            case _:
                raise TypeError(f"no store rule for event {type(event).__name__}")


# --- patients ---------------------------------------------------------------------------


def _newer_wins(
    table_columns: Any,
    incoming: Any,
    newer: ColumnElement[bool],
    *,
    text: Sequence[str] = (),
    nullable: Sequence[str] = (),
) -> dict[str, ColumnElement[object]]:
    """SET clauses that take an incoming value only from a newer message, and never let an
    empty value erase a known one."""
    changes: dict[str, ColumnElement[object]] = {}
    for name in text:
        changes[name] = case(
            (newer & (incoming[name] != ""), incoming[name]), else_=table_columns[name]
        )
    for name in nullable:
        changes[name] = case(
            (newer & incoming[name].is_not(None), incoming[name]), else_=table_columns[name]
        )
    return changes


def _not_older(
    stamp: ColumnElement[datetime], at: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    return stamp.is_(None) | (stamp <= at)


_PATIENT_COLUMNS = (
    "identifier",
    "authority",
    "family_name",
    "given_name",
    "middle_name",
    "name_prefix",
    "name_suffix",
    "birth_date",
    "sex",
    "patient_class",
    "location",
    "visit_number",
    "demographics_at",
    "created_at",
    "updated_at",
)


@functools.cache
def _patient_upsert(dialect: str) -> Executable:
    """The patient upsert with bind parameters, built once per dialect: building it anew for
    every message (its CASE expressions, its cache key) cost more than running it."""
    statement = upsert(dialect, patients).values(_binds(patients, _PATIENT_COLUMNS))
    incoming = statement.excluded
    # Out-of-order arrival: an older message does not overwrite newer demographics, and an
    # empty field does not erase a known value.
    newer = patients.c.demographics_at.is_(None) | (
        incoming.demographics_at >= patients.c.demographics_at
    )
    text = [*_name_columns(PersonName()), "sex", "patient_class", "location", "visit_number"]
    changes = _newer_wins(
        patients.c, incoming, newer, text=text, nullable=["birth_date", "demographics_at"]
    )
    changes["updated_at"] = incoming.updated_at
    return statement.on_conflict_do_update(
        index_elements=["identifier", "authority"], set_=changes
    ).returning(patients.c.id, patients.c.merged_into_id)


def _binds(table: Table, names: Sequence[str]) -> dict[str, BindParameter[Any]]:
    """A bind parameter `v_<name>` per column, typed as the column (UTC times and all)."""
    return {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in names}


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {f"v_{name}": value for name, value in values.items()}


def _upsert_patient(ctx: ApplyContext, event: PatientUpserted) -> int:
    visit = event.visit or Visit()
    values = {
        "identifier": event.patient.value,
        "authority": event.patient.authority,
        **_name_columns(event.name),
        "birth_date": event.birth_date,
        "sex": event.sex,
        "patient_class": visit.patient_class.value,
        "location": visit.location,
        "visit_number": visit.visit_number,
        "demographics_at": event.occurred_at,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    result = ctx.conn.execute(_patient_upsert(ctx.conn.dialect.name), _params(values))
    row_id, merged_into = result.one()
    resolved = merged_into or row_id
    ctx.patient_ids[event.patient] = resolved
    return resolved


def _patient_row(ctx: ApplyContext, patient: PatientId) -> tuple[int, int]:
    """(row id, resolved id) of a patient, creating a bare row for an unknown identifier."""
    values = {
        "identifier": patient.value,
        "authority": patient.authority,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    result = ctx.conn.execute(_bare_patient_upsert(ctx.conn.dialect.name), _params(values))
    row_id, merged_into = result.one()
    return row_id, merged_into or row_id


@functools.cache
def _bare_patient_upsert(dialect: str) -> Executable:
    statement = upsert(dialect, patients).values(
        _binds(patients, ("identifier", "authority", "created_at", "updated_at"))
    )
    return statement.on_conflict_do_update(
        index_elements=["identifier", "authority"],
        set_={"updated_at": patients.c.updated_at},  # a no-op update, to get RETURNING
    ).returning(patients.c.id, patients.c.merged_into_id)


def _patient_id(ctx: ApplyContext, patient: PatientId | None) -> int | None:
    """The resolved row id of a patient this message named (following merges)."""
    if patient is None:
        return None
    known = ctx.patient_ids.get(patient)
    if known is None:
        _, known = _patient_row(ctx, patient)
        ctx.patient_ids[patient] = known
    return known


def _merge_patients(ctx: ApplyContext, event: PatientsMerged) -> None:
    """ADT^A40: the merged identifier's orders and arrivals move to the survivor."""
    _, survivor = _patient_row(ctx, event.survivor)
    merged, _ = _patient_row(ctx, event.merged)
    if merged == survivor:
        return
    ctx.conn.execute(
        update(patients)
        .where(or_(patients.c.id == merged, patients.c.merged_into_id == merged))
        .values(merged_into_id=survivor, updated_at=ctx.now)
    )
    ctx.conn.execute(
        update(orders).where(orders.c.patient_id == merged).values(patient_id=survivor)
    )
    ctx.conn.execute(
        update(patient_arrivals)
        .where(patient_arrivals.c.patient_id == merged)
        .values(patient_id=survivor)
    )
    ctx.patient_ids[event.merged] = survivor


def _record_arrival(ctx: ApplyContext, event: PatientArrived) -> None:
    """Keep the arrival, and mark it on the orders it belongs to (named, or within a day)."""
    patient_id = _patient_id(ctx, event.patient)
    ctx.conn.execute(
        insert(patient_arrivals).values(
            patient_id=patient_id, occurred_at=event.occurred_at, message_id=ctx.message_id
        )
    )
    if event.accession:
        order_ids = [_order_id(ctx, event.accession, patient_id)]
    else:
        window = (event.occurred_at - ARRIVAL_WINDOW, event.occurred_at + ARRIVAL_WINDOW)
        order_ids = list(
            (
                ctx.conn.execute(
                    select(orders.c.id).where(
                        orders.c.patient_id == patient_id,
                        orders.c.ordered_at.between(*window),
                    )
                )
            ).scalars()
        )
    for order_id in order_ids:
        set_milestone(ctx, order_id, Milestone.ARRIVED, event.occurred_at)


# --- orders -----------------------------------------------------------------------------


def _order_id(ctx: ApplyContext, accession: str, patient_id: int | None = None) -> int:
    """The order with this accession, created as a placeholder when no message named it yet."""
    values = {
        "accession": accession,
        "patient_id": patient_id,
        "status": Milestone.ORDERED.value,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    statement = _placeholder_upsert(ctx.conn.dialect.name)
    return ctx.conn.execute(statement, _params(values)).scalar_one()


@functools.cache
def _placeholder_upsert(dialect: str) -> Executable:
    names = ("accession", "patient_id", "status", "created_at", "updated_at")
    statement = upsert(dialect, orders).values(_binds(orders, names))
    return statement.on_conflict_do_update(
        index_elements=["accession"],
        set_={"patient_id": func.coalesce(orders.c.patient_id, statement.excluded.patient_id)},
    ).returning(orders.c.id)


def _upsert_order(
    ctx: ApplyContext,
    accession: str,
    patient: PatientId,
    details: OrderDetails,
    details_at: datetime,
    *,
    requested_start: datetime | None = None,
) -> tuple[int, int | None]:
    """Create or update an order's details (the newest message's win); (order id, patient)."""
    patient_id = _patient_id(ctx, patient)
    values = {
        "patient_id": patient_id,
        "placer_number": details.placer_number,
        "filler_number": details.filler_number,
        "procedure_code": details.procedure.code,
        "procedure_text": details.procedure.text,
        "procedure_system": details.procedure.system,
        "requested_procedure_id": details.requested_procedure_id,
        "modality": details.modality,
        "priority": details.priority,
        "ordering_provider_id": details.ordering_provider.id,
        "ordering_provider_name": _display_name(details.ordering_provider.name),
        "ordering_provider_family": details.ordering_provider.name.family,
        "ordering_provider_given": details.ordering_provider.name.given,
        "reason": details.reason,
        "patient_class": details.patient_class.value,
        "location": details.location,
        "study_instance_uid": details.study_instance_uid,
    }
    values.update(
        accession=accession,
        status=Milestone.ORDERED.value,
        details_at=details_at,
        scheduled_start=requested_start,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    result = ctx.conn.execute(_order_upsert(ctx.conn.dialect.name), _params(values))
    return result.scalar_one(), patient_id


_ORDER_DETAILS = (
    "patient_id",
    "placer_number",
    "filler_number",
    "procedure_code",
    "procedure_text",
    "procedure_system",
    "requested_procedure_id",
    "modality",
    "priority",
    "ordering_provider_id",
    "ordering_provider_name",
    "ordering_provider_family",
    "ordering_provider_given",
    "reason",
    "patient_class",
    "location",
    "study_instance_uid",
)


@functools.cache
def _order_upsert(dialect: str) -> Executable:
    """The order upsert with bind parameters, built once per dialect."""
    names = (
        *_ORDER_DETAILS,
        "accession",
        "status",
        "details_at",
        "scheduled_start",
        "created_at",
        "updated_at",
    )
    statement = upsert(dialect, orders).values(_binds(orders, names))
    incoming = statement.excluded
    newer = orders.c.details_at.is_(None) | (incoming.details_at >= orders.c.details_at)
    changes = _newer_wins(
        orders.c,
        incoming,
        newer,
        text=[name for name in _ORDER_DETAILS if name != "patient_id"],
        nullable=["patient_id", "details_at"],
    )
    # The order's requested time stands until an appointment (SIU) is booked.
    changes["scheduled_start"] = case(
        (
            orders.c.schedule_at.is_(None) & incoming.scheduled_start.is_not(None),
            incoming.scheduled_start,
        ),
        else_=orders.c.scheduled_start,
    )
    changes["updated_at"] = incoming.updated_at
    return statement.on_conflict_do_update(index_elements=["accession"], set_=changes).returning(
        orders.c.id
    )


def _names_the_order(table: Table) -> ColumnElement[bool]:
    """An unmatched study or step that names the order by accession, or by a Study Instance
    UID equal to the order's (or to its accession, as some senders fill it)."""
    return table.c.order_id.is_(None) & or_(
        table.c.accession == bindparam("p_accession"),
        table.c.study_instance_uid == bindparam("p_accession"),
        table.c.study_instance_uid == bindparam("p_study_uid"),
    )


def _place_order(ctx: ApplyContext, event: OrderPlaced) -> None:
    order_id, patient_id = _upsert_order(
        ctx,
        event.accession,
        event.patient,
        event.details,
        event.ordered_at,
        requested_start=event.scheduled_start,
    )
    set_milestone(ctx, order_id, Milestone.ORDERED, event.ordered_at)
    # What came before the order (arrival order is not trusted): DICOM objects that name it,
    # and the patient's arrival. Usually nothing has, so one probe asks for all of it.
    waiting = ctx.conn.execute(
        _WAITING_FOR_ORDER,
        {
            "p_accession": event.accession,
            "p_study_uid": event.details.study_instance_uid or None,
            "p_patient": patient_id,
            "p_from": event.ordered_at - ARRIVAL_WINDOW,
            "p_to": event.ordered_at + ARRIVAL_WINDOW,
        },
    ).one()
    if waiting.study or waiting.step:
        _link_waiting_dicom(ctx, order_id, event.accession, event.details.study_instance_uid)
    if waiting.arrived_at is not None:
        set_milestone(
            ctx, order_id, Milestone.ARRIVED, waiting.arrived_at, message_id=waiting.arrival_message
        )


def _first_arrival(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column of the patient's first arrival within the window of the order's time."""
    return (
        select(column)
        .where(
            patient_arrivals.c.patient_id == bindparam("p_patient"),
            patient_arrivals.c.occurred_at.between(
                bindparam("p_from", type_=patient_arrivals.c.occurred_at.type),
                bindparam("p_to", type_=patient_arrivals.c.occurred_at.type),
            ),
        )
        .order_by(patient_arrivals.c.occurred_at, patient_arrivals.c.id)
        .limit(1)
        .scalar_subquery()
    )


_WAITING_FOR_ORDER = select(
    select(studies.c.id).where(_names_the_order(studies)).exists().label("study"),
    select(procedure_steps.c.id).where(_names_the_order(procedure_steps)).exists().label("step"),
    _first_arrival(patient_arrivals.c.occurred_at).label("arrived_at"),
    _first_arrival(patient_arrivals.c.message_id).label("arrival_message"),
)


def _schedule(ctx: ApplyContext, event: ProcedureScheduled) -> None:
    patient_id = _patient_id(ctx, event.patient)
    order_id = _order_id(ctx, event.accession, patient_id)
    booking = {
        "p_order": order_id,
        "p_start": event.start,
        "p_duration": event.duration_minutes,
        "p_resource": event.resource,
        "p_at": event.booked_at,
        "p_now": ctx.now,
    }
    ctx.conn.execute(_BOOK, booking)
    set_milestone(ctx, order_id, Milestone.SCHEDULED, event.booked_at)


def _order_bind(name: str, column: str) -> BindParameter[Any]:
    return bindparam(name, type_=orders.c[column].type)


# An appointment: the newest booking message (by its own time) wins.
_BOOK = (
    update(orders)
    .where(
        orders.c.id == bindparam("p_order"),
        _not_older(orders.c.schedule_at, _order_bind("p_at", "schedule_at")),
    )
    .values(
        scheduled_start=_order_bind("p_start", "scheduled_start"),
        scheduled_duration_minutes=bindparam("p_duration"),
        scheduled_resource=bindparam("p_resource"),
        schedule_at=_order_bind("p_at", "schedule_at"),
        updated_at=_order_bind("p_now", "updated_at"),
    )
)


def _cancel_appointment(ctx: ApplyContext, event: AppointmentCancelled) -> None:
    order_id = _order_id(ctx, event.accession)
    ctx.conn.execute(
        update(orders)
        .where(orders.c.id == order_id, _not_older(orders.c.schedule_at, event.occurred_at))
        .values(
            scheduled_start=None,
            scheduled_duration_minutes=None,
            scheduled_resource="",
            schedule_at=event.occurred_at,
            updated_at=ctx.now,
        )
    )


def _no_show(ctx: ApplyContext, event: PatientNoShow) -> None:
    order_id = _order_id(ctx, event.accession)
    ctx.conn.execute(
        update(orders)
        .where(
            orders.c.id == order_id,
            orders.c.no_show_at.is_(None) | (orders.c.no_show_at > event.occurred_at),
        )
        .values(no_show_at=event.occurred_at, updated_at=ctx.now)
    )


def _issue_report(ctx: ApplyContext, event: ReportIssued) -> None:
    patient_id = _patient_id(ctx, event.patient)
    order_id = _order_id(ctx, event.accession, patient_id)
    report = {
        "order_id": order_id,
        "status": event.status.value,
        "text": event.text,
        "radiologist_id": event.radiologist.id,
        "radiologist_name": _display_name(event.radiologist.name),
        "result_at": event.result_at,
        "message_id": ctx.message_id,
        "recorded_at": ctx.now,
    }
    ctx.conn.execute(_REPORT_INSERT, report)
    set_milestone(ctx, order_id, _REPORT_MILESTONES[event.status], event.result_at)


# --- DICOM ------------------------------------------------------------------------------


def _device_id(ctx: ApplyContext, event: DeviceSeen) -> int:
    """Learn a device from traffic: what it says about itself fills what is not known yet."""
    statement = upsert(ctx.conn.dialect.name, devices).values(
        ae_title=event.ae_title,
        station_name=event.station_name,
        modality=event.modality,
        manufacturer=event.manufacturer,
        model=event.model,
        serial_number=event.serial_number,
        first_seen_at=event.seen_at,
        last_seen_at=event.seen_at,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    incoming = statement.excluded
    learned = ["station_name", "modality", "manufacturer", "model", "serial_number"]
    changes = _newer_wins(devices.c, incoming, true(), text=learned)
    changes["first_seen_at"] = case(
        (
            devices.c.first_seen_at.is_(None) | (incoming.first_seen_at < devices.c.first_seen_at),
            incoming.first_seen_at,
        ),
        else_=devices.c.first_seen_at,
    )
    changes["last_seen_at"] = case(
        (
            devices.c.last_seen_at.is_(None) | (incoming.last_seen_at > devices.c.last_seen_at),
            incoming.last_seen_at,
        ),
        else_=devices.c.last_seen_at,
    )
    changes["updated_at"] = incoming.updated_at
    statement = statement.on_conflict_do_update(
        index_elements=["ae_title"], set_=changes
    ).returning(devices.c.id)
    return ctx.conn.execute(statement).scalar_one()


def _device_by_title(ctx: ApplyContext, ae_title: str) -> int | None:
    if not ae_title:
        return None
    return ctx.conn.execute(select(devices.c.id).where(devices.c.ae_title == ae_title)).scalar()


def _matching_order(
    ctx: ApplyContext, accession: str, study_uid: str, requested_procedure_id: str = ""
) -> int | None:
    """The order a DICOM object names: by accession, else the order's Study Instance UID,
    else its Requested Procedure ID."""
    for statement, value in zip(
        _ORDER_BY, (accession, study_uid, requested_procedure_id), strict=True
    ):
        if value:
            found = ctx.conn.execute(statement, {"p_value": value}).scalar()
            if found is not None:
                return found
    return None


_ORDER_BY = tuple(
    select(orders.c.id).where(column == bindparam("p_value", type_=column.type)).limit(1)
    for column in (
        orders.c.accession,
        orders.c.study_instance_uid,
        orders.c.requested_procedure_id,
    )
)


def _store_instance(ctx: ApplyContext, event: InstanceStored) -> None:
    """Index one instance; the first of a study for an order sets `images_available`."""
    dialect = ctx.conn.dialect.name
    patient = event.patient or PatientId("")
    study_values = {
        "study_instance_uid": event.study_instance_uid,
        "accession": event.accession,
        "patient_identifier": patient.value,
        "patient_authority": patient.authority,
        "study_started_at": event.study_started_at,
        "description": event.study_description,
        "first_instance_at": event.received_at,
        "last_instance_at": event.received_at,
        "instance_count": 0,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    study_params = {**_params(study_values), "p_device": event.device_ae_title}
    study_id, order_id, earlier_instances = ctx.conn.execute(
        _study_upsert(dialect), study_params
    ).one()

    series_values = {
        "series_instance_uid": event.series_instance_uid,
        "study_id": study_id,
        "modality": event.modality,
        "body_part": event.body_part,
        "instance_count": 0,
    }
    series_id = ctx.conn.execute(_series_upsert(dialect), _params(series_values)).scalar_one()

    instance_values = {
        "sop_instance_uid": event.sop_instance_uid,
        "series_id": series_id,
        "sop_class_uid": event.sop_class_uid,
        "transfer_syntax": event.transfer_syntax,
        "received_at": event.received_at,
        "stored_path": event.stored_path,
        "message_id": ctx.message_id,
    }
    if ctx.conn.execute(_instance_insert(dialect), _params(instance_values)).first() is None:
        return  # the same instance again: already counted
    ctx.conn.execute(_COUNT_SERIES_INSTANCE, {"p_series": series_id})
    ctx.conn.execute(_COUNT_STUDY_INSTANCE, {"p_study": study_id, "p_at": event.received_at})
    if earlier_instances:
        # The study's first instance already matched its order (or found none, and the order
        # links the study when it arrives); later instances change no milestone.
        return
    if order_id is None:
        order_id = _matching_order(ctx, event.accession, event.study_instance_uid)
        if order_id is None:
            return  # unmatched: kept, and linked when its order arrives
        ctx.conn.execute(_LINK_STUDY, {"p_study": study_id, "p_order": order_id})
    set_milestone(ctx, order_id, Milestone.IMAGES_AVAILABLE, event.received_at)


# The DICOM index statements, built once with bind parameters: a C-STORE commits alone (its
# sender waits for each answer), so building them per instance was a large share of its cost.


@functools.cache
def _study_upsert(dialect: str) -> Executable:
    names = (
        "study_instance_uid",
        "accession",
        "patient_identifier",
        "patient_authority",
        "study_started_at",
        "description",
        "first_instance_at",
        "last_instance_at",
        "instance_count",
        "created_at",
        "updated_at",
    )
    device_id = (
        select(devices.c.id)
        .where(devices.c.ae_title == bindparam("p_device", type_=devices.c.ae_title.type))
        .scalar_subquery()
    )
    statement = upsert(dialect, studies).values({**_binds(studies, names), "device_id": device_id})
    return statement.on_conflict_do_update(
        index_elements=["study_instance_uid"],
        set_={"updated_at": statement.excluded.updated_at},
    ).returning(studies.c.id, studies.c.order_id, studies.c.instance_count)


@functools.cache
def _series_upsert(dialect: str) -> Executable:
    names = ("series_instance_uid", "study_id", "modality", "body_part", "instance_count")
    statement = upsert(dialect, series).values(_binds(series, names))
    return statement.on_conflict_do_update(
        index_elements=["series_instance_uid"],
        set_={"modality": statement.excluded.modality},
    ).returning(series.c.id)


@functools.cache
def _instance_insert(dialect: str) -> Executable:
    names = (
        "sop_instance_uid",
        "series_id",
        "sop_class_uid",
        "transfer_syntax",
        "received_at",
        "stored_path",
        "message_id",
    )
    statement = upsert(dialect, instances).values(_binds(instances, names))
    return statement.on_conflict_do_nothing(index_elements=["sop_instance_uid"]).returning(
        instances.c.id
    )


_COUNT_SERIES_INSTANCE = (
    update(series)
    .where(series.c.id == bindparam("p_series"))
    .values(instance_count=series.c.instance_count + 1)
)
_INSTANCE_AT = bindparam("p_at", type_=studies.c.first_instance_at.type)
_COUNT_STUDY_INSTANCE = (
    update(studies)
    .where(studies.c.id == bindparam("p_study"))
    .values(
        instance_count=studies.c.instance_count + 1,
        first_instance_at=case(
            (studies.c.first_instance_at > _INSTANCE_AT, _INSTANCE_AT),
            else_=studies.c.first_instance_at,
        ),
        last_instance_at=case(
            (studies.c.last_instance_at < _INSTANCE_AT, _INSTANCE_AT),
            else_=studies.c.last_instance_at,
        ),
    )
)
_LINK_STUDY = (
    update(studies)
    .where(studies.c.id == bindparam("p_study"))
    .values(order_id=bindparam("p_order"))
)


def _create_step(ctx: ApplyContext, event: ProcedureStepCreated) -> None:
    """MPPS N-CREATE: a new step, linked to its order by its scheduled step attributes."""
    first = event.steps[0] if event.steps else ScheduledStep()
    order_id = None
    for step in event.steps:
        order_id = _matching_order(
            ctx, step.accession, step.study_instance_uid, step.requested_procedure_id
        )
        if order_id is not None:
            break
    statement = upsert(ctx.conn.dialect.name, procedure_steps).values(
        sop_instance_uid=event.sop_instance_uid,
        order_id=order_id,
        accession=first.accession,
        requested_procedure_id=first.requested_procedure_id,
        study_instance_uid=first.study_instance_uid,
        status=event.status.value,
        device_id=_device_by_title(ctx, event.station_ae_title),
        station_ae_title=event.station_ae_title,
        modality=event.modality,
        started_at=event.started_at,
        ended_at=event.ended_at,
        dose=orjson.dumps(dict(event.dose)).decode(),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    statement = statement.on_conflict_do_nothing(index_elements=["sop_instance_uid"]).returning(
        procedure_steps.c.id
    )
    if ctx.conn.execute(statement).first() is None:
        raise EventRejected(
            Rejection.DUPLICATE, f"procedure step {event.sop_instance_uid} exists already"
        )
    if order_id is not None:
        _step_milestones(ctx, order_id, event.status, event.started_at, event.ended_at)


def _update_step(ctx: ApplyContext, event: ProcedureStepUpdated) -> None:
    """MPPS N-SET: refused for an unknown step or one already completed or discontinued
    (PS3.4 F.7.2.2)."""
    query = select(procedure_steps).where(
        procedure_steps.c.sop_instance_uid == event.sop_instance_uid
    )
    if ctx.conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = ctx.conn.execute(query).mappings().first()
    if row is None:
        raise EventRejected(
            Rejection.UNKNOWN_INSTANCE, f"no procedure step {event.sop_instance_uid}"
        )
    if row["status"] != StepStatus.IN_PROGRESS.value:
        raise EventRejected(
            Rejection.NOT_UPDATABLE,
            f"procedure step is {row['status']} and may no longer be updated",
        )
    status = event.status or StepStatus(row["status"])
    ended_at = event.ended_at or row["ended_at"]
    dose = {**orjson.loads(row["dose"] or "{}"), **dict(event.dose)}
    ctx.conn.execute(
        update(procedure_steps)
        .where(procedure_steps.c.id == row["id"])
        .values(
            status=status.value,
            ended_at=ended_at,
            dose=orjson.dumps(dose).decode(),
            updated_at=ctx.now,
        )
    )
    if row["order_id"] is not None:
        _step_milestones(ctx, row["order_id"], status, row["started_at"], ended_at)


def _step_milestones(
    ctx: ApplyContext,
    order_id: int,
    status: StepStatus,
    started_at: datetime | None,
    ended_at: datetime | None,
) -> None:
    if started_at is not None:
        set_milestone(ctx, order_id, Milestone.EXAM_STARTED, started_at)
    if ended_at is not None and status is StepStatus.COMPLETED:
        set_milestone(ctx, order_id, Milestone.EXAM_COMPLETED, ended_at)
    elif ended_at is not None and status is StepStatus.DISCONTINUED:
        set_milestone(ctx, order_id, Milestone.DISCONTINUED, ended_at)


def _link_waiting_dicom(ctx: ApplyContext, order_id: int, accession: str, study_uid: str) -> None:
    """Studies and steps that came before their order link to it now and set its milestones."""
    names = {"p_order": order_id, "p_accession": accession, "p_study_uid": study_uid or None}
    waiting = ctx.conn.execute(_LINK_WAITING_STUDIES, names).scalars().all()
    if waiting:
        set_milestone(ctx, order_id, Milestone.IMAGES_AVAILABLE, min(waiting))
    for status, started_at, ended_at in ctx.conn.execute(_LINK_WAITING_STEPS, names).all():
        _step_milestones(ctx, order_id, StepStatus(status), started_at, ended_at)


_LINK_WAITING_STUDIES = (
    update(studies)
    .where(_names_the_order(studies))
    .values(order_id=bindparam("p_order"))
    .returning(studies.c.first_instance_at)
)
_LINK_WAITING_STEPS = (
    update(procedure_steps)
    .where(_names_the_order(procedure_steps))
    .values(order_id=bindparam("p_order"))
    .returning(procedure_steps.c.status, procedure_steps.c.started_at, procedure_steps.c.ended_at)
)


def link_study(ctx: ApplyContext, study_id: int, order_id: int) -> bool:
    """Link an unmatched study to an order and set what it proves; False if already linked."""
    first_instance_at = (
        ctx.conn.execute(
            update(studies)
            .where(studies.c.id == study_id, studies.c.order_id.is_(None))
            .values(order_id=order_id)
            .returning(studies.c.first_instance_at)
        )
    ).scalar()
    if first_instance_at is None:
        return False
    set_milestone(ctx, order_id, Milestone.IMAGES_AVAILABLE, first_instance_at)
    return True


def link_step(ctx: ApplyContext, step_id: int, order_id: int) -> bool:
    """Link an unmatched procedure step to an order and set what it proves; False if linked."""
    row = (
        ctx.conn.execute(
            update(procedure_steps)
            .where(procedure_steps.c.id == step_id, procedure_steps.c.order_id.is_(None))
            .values(order_id=order_id)
            .returning(
                procedure_steps.c.status, procedure_steps.c.started_at, procedure_steps.c.ended_at
            )
        )
    ).first()
    if row is None:
        return False
    _step_milestones(ctx, order_id, StepStatus(row.status), row.started_at, row.ended_at)
    return True


# --- milestones -------------------------------------------------------------------------


def set_milestone(
    ctx: ApplyContext,
    order_id: int,
    milestone: Milestone,
    occurred_at: datetime,
    *,
    message_id: int | None = None,
) -> bool:
    """Record a milestone at the earliest time proven for it; True when this call moved it.

    The status becomes the furthest milestone reached, unless the order has ended (DESIGN.md,
    "The exam lifecycle"). A timeline row names the message that proved it.
    """
    result = ctx.conn.execute(
        _milestone_update(milestone), {"p_order": order_id, "p_at": occurred_at, "p_now": ctx.now}
    )
    if result.rowcount == 0:
        return False
    ctx.conn.execute(
        _TIMELINE_INSERT,
        {
            "order_id": order_id,
            "milestone": milestone.value,
            "occurred_at": occurred_at,
            "message_id": message_id if message_id is not None else ctx.message_id,
            "recorded_at": ctx.now,
        },
    )
    return True


_TIMELINE_INSERT = insert(order_timeline)
_REPORT_INSERT = insert(reports)


@functools.cache
def _milestone_update(milestone: Milestone) -> Executable:
    """The milestone's UPDATE with bind parameters, built once."""
    column = orders.c[f"{milestone.value}_at"]
    at = bindparam("p_at", type_=column.type)
    return (
        update(orders)
        .where(orders.c.id == bindparam("p_order"), column.is_(None) | (column > at))
        .values(
            {
                column: at,
                "status": _status_with(milestone),
                "updated_at": bindparam("p_now", type_=orders.c.updated_at.type),
            }
        )
    )


def _status_with(milestone: Milestone) -> ColumnElement[str]:
    """SQL for the status once `milestone` is set: an end if any, else the furthest milestone.

    SET expressions see the row as it was, so the milestone being set counts as reached.
    """
    order = [Milestone.CANCELLED, Milestone.DISCONTINUED, *reversed(PROGRESS)]
    whens = [
        (true() if m is milestone else orders.c[f"{m.value}_at"].is_not(None), literal(m.value))
        for m in order
    ]
    return case(*whens, else_=orders.c.status)


def _name_columns(name: PersonName) -> dict[str, str]:
    return {
        "family_name": name.family,
        "given_name": name.given,
        "middle_name": name.middle,
        "name_prefix": name.prefix,
        "name_suffix": name.suffix,
    }


def _display_name(name: PersonName) -> str:
    """`Family, Given Middle` as worklists and reports show a clinician."""
    given = " ".join(part for part in (name.prefix, name.given, name.middle) if part)
    return ", ".join(part for part in (name.family, given) if part)
