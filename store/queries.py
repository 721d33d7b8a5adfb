"""Read-side queries; each takes a connection and returns plain frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import Milestone
from store.figures import FIGURES
from store.paging import Page, after_key, page_of
from store.schema import messages, order_timeline, orders, patients, reports

# A list's sort key, newest first: (time, row id). Orders without `ordered_at` have None.
SortKey = tuple[datetime | None, int]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One milestone reached, when, and the message that proved it."""

    milestone: str
    occurred_at: datetime
    message_id: int | None
    message_type: str | None
    control_id: str | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class PatientView:
    """A patient as the API shows it."""

    identifier: str
    authority: str
    family_name: str
    given_name: str
    birth_date: date | None
    sex: str


@dataclass(frozen=True, slots=True)
class ReportView:
    """One report issued for an order (preliminary, final or corrected)."""

    status: str
    result_at: datetime
    radiologist_id: str
    radiologist_name: str
    text: str


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order with its patient, milestones, timeline and reports."""

    accession: str
    status: str
    placer_number: str
    filler_number: str
    procedure_code: str
    procedure_text: str
    procedure_system: str
    requested_procedure_id: str
    modality: str
    priority: str
    ordering_provider_id: str
    ordering_provider_name: str
    reason: str
    patient_class: str
    location: str
    study_instance_uid: str
    scheduled_start: datetime | None
    scheduled_resource: str
    no_show_at: datetime | None
    patient: PatientView | None
    milestones: dict[str, datetime]
    timeline: tuple[TimelineEntry, ...]
    reports: tuple[ReportView, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PatientSummary:
    """The patient of an order, as an order list shows it."""

    identifier: str
    authority: str
    family_name: str
    given_name: str


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """An order as a list shows it."""

    accession: str
    status: str
    modality: str
    priority: str
    patient_class: str
    procedure_code: str
    procedure_text: str
    patient: PatientSummary | None
    ordered_at: datetime | None
    scheduled_start: datetime | None
    milestones: dict[str, datetime]


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """What an order list is narrowed to; empty fields do not narrow it."""

    statuses: tuple[str, ...] = ()
    modality: str | None = None
    patient_identifier: str | None = None
    patient_authority: str | None = None
    accession: str | None = None
    priority: str | None = None
    patient_class: str | None = None
    ordered_from: datetime | None = None  # inclusive
    ordered_to: datetime | None = None  # exclusive
    # The orders behind a turnaround figure: those with it, whose END time is in the range.
    figure: str | None = None
    figure_ended_from: datetime | None = None  # inclusive
    figure_ended_to: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message log entry without its content (which may hold patient data)."""

    id: int
    protocol: str
    received_at: datetime
    last_received_at: datetime
    receive_count: int
    peer: str
    sending_application: str | None
    sending_facility: str | None
    control_id: str | None
    message_type: str | None
    version: str | None
    charset: str | None
    outcome: str
    ack_code: str | None
    error: str | None
    error_location: str | None
    control_id_reused: bool


@dataclass(frozen=True, slots=True)
class KeptMessage:
    """A message log entry with the bytes as received."""

    view: MessageView
    raw: bytes


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What a message list is narrowed to; empty fields do not narrow it."""

    outcomes: tuple[str, ...] = ()
    message_type: str | None = None  # `ORM^O01`, or a family `ORM`
    control_id: str | None = None
    received_from: datetime | None = None  # inclusive
    received_to: datetime | None = None  # exclusive


_MILESTONE_COLUMNS = [orders.c[f"{m.value}_at"] for m in Milestone]
# OrderView fields read straight from same-named order columns.
_ORDER_COLUMNS = [f.name for f in fields(OrderView) if f.name in orders.c]
_PATIENT_FIELDS = [f.name for f in fields(PatientView)]
_SUMMARY_COLUMNS = [orders.c[f.name] for f in fields(OrderSummary) if f.name in orders.c]
_MESSAGE_COLUMNS = [messages.c[f.name] for f in fields(MessageView)]


def _milestones(row: Mapping[str, Any]) -> dict[str, datetime]:
    return {
        column.name.removesuffix("_at"): row[column.name]
        for column in _MILESTONE_COLUMNS
        if row[column.name] is not None
    }


async def get_order(conn: AsyncConnection, accession: str) -> OrderView | None:
    """The order with this accession number, or None."""
    row = (
        (
            await conn.execute(
                select(
                    orders,
                    patients.c.identifier,
                    patients.c.authority,
                    patients.c.family_name,
                    patients.c.given_name,
                    patients.c.birth_date,
                    patients.c.sex,
                )
                .select_from(orders.outerjoin(patients, orders.c.patient_id == patients.c.id))
                .where(orders.c.accession == accession)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    timeline = await conn.execute(
        select(
            order_timeline.c.milestone,
            order_timeline.c.occurred_at,
            order_timeline.c.message_id,
            messages.c.message_type,
            messages.c.control_id,
            order_timeline.c.recorded_at,
        )
        .select_from(
            order_timeline.outerjoin(messages, order_timeline.c.message_id == messages.c.id)
        )
        .where(order_timeline.c.order_id == row["id"])
        .order_by(order_timeline.c.occurred_at, order_timeline.c.id)
    )
    issued = await conn.execute(
        select(*(reports.c[f.name] for f in fields(ReportView)))
        .where(reports.c.order_id == row["id"])
        .order_by(reports.c.result_at, reports.c.id)
    )
    patient = (
        PatientView(**{name: row[name] for name in _PATIENT_FIELDS})
        if row["identifier"] is not None
        else None
    )
    return OrderView(
        **{name: row[name] for name in _ORDER_COLUMNS},
        patient=patient,
        milestones=_milestones(row),
        timeline=tuple(TimelineEntry(**entry) for entry in timeline.mappings()),
        reports=tuple(ReportView(**report) for report in issued.mappings()),
    )


async def list_orders(
    conn: AsyncConnection, where: OrderFilter, *, after: SortKey | None, limit: int
) -> Page[OrderSummary]:
    """Orders newest first by (ordered_at, id), those without `ordered_at` last; one statement.

    `after` is the sort key of the previous page's last item (keyset paging).
    """
    conditions: list[ColumnElement[bool]] = []
    if where.statuses:
        conditions.append(orders.c.status.in_(where.statuses))
    if where.modality is not None:
        conditions.append(orders.c.modality == where.modality)
    if where.accession is not None:
        conditions.append(orders.c.accession == where.accession)
    if where.patient_identifier is not None:
        conditions.append(patients.c.identifier == where.patient_identifier)
    if where.patient_authority is not None:
        conditions.append(patients.c.authority == where.patient_authority)
    if where.priority is not None:
        conditions.append(orders.c.priority == where.priority)
    if where.patient_class is not None:
        conditions.append(orders.c.patient_class == where.patient_class)
    if where.ordered_from is not None:
        conditions.append(orders.c.ordered_at >= where.ordered_from)
    if where.ordered_to is not None:
        conditions.append(orders.c.ordered_at < where.ordered_to)
    if where.figure is not None:
        conditions.extend(_figure_conditions(where))
    if after is not None:
        conditions.append(
            after_key((orders.c.ordered_at, orders.c.id), after, (True, True), (True, False))
        )
    rows = (
        await conn.execute(
            select(
                orders.c.id,
                # `ordered_at` is both a summary field and a milestone: selected once.
                *dict.fromkeys([*_SUMMARY_COLUMNS, *_MILESTONE_COLUMNS]),
                patients.c.identifier,
                patients.c.authority,
                patients.c.family_name,
                patients.c.given_name,
            )
            .select_from(orders.outerjoin(patients, orders.c.patient_id == patients.c.id))
            .where(*conditions)
            .order_by(orders.c.ordered_at.desc().nulls_last(), orders.c.id.desc())
            .limit(limit + 1)
        )
    ).mappings()
    items = [
        (
            (row["ordered_at"], row["id"]),
            OrderSummary(
                **{column.name: row[column.name] for column in _SUMMARY_COLUMNS},
                patient=PatientSummary(
                    row["identifier"], row["authority"], row["family_name"], row["given_name"]
                )
                if row["identifier"] is not None
                else None,
                milestones=_milestones(row),
            ),
        )
        for row in rows
    ]
    return page_of(items, limit)


def _figure_conditions(where: OrderFilter) -> list[ColumnElement[bool]]:
    """The order has the figure, ended within the range: what turnaround counts."""
    assert where.figure is not None
    end = orders.c[FIGURES[where.figure][1]]
    conditions = [orders.c[f"{where.figure}_ms"].is_not(None), orders.c.cancelled_at.is_(None)]
    if where.figure_ended_from is not None:
        conditions.append(end >= where.figure_ended_from)
    if where.figure_ended_to is not None:
        conditions.append(end < where.figure_ended_to)
    return conditions


async def list_messages(
    conn: AsyncConnection, where: MessageFilter, *, after: SortKey | None, limit: int
) -> Page[MessageView]:
    """Message log entries newest first by (received_at, id), without content; one statement.

    `after` is the sort key of the previous page's last item (keyset paging).
    """
    conditions: list[ColumnElement[bool]] = []
    if where.outcomes:
        conditions.append(messages.c.outcome.in_(where.outcomes))
    if where.message_type is not None:
        conditions.append(
            or_(
                messages.c.message_type == where.message_type,
                # A family (`ORM`) takes every trigger event; `ORM^O01` also takes `ORM^O01^...`.
                messages.c.message_type.startswith(f"{where.message_type}^", autoescape=True),
            )
        )
    if where.control_id is not None:
        conditions.append(messages.c.control_id == where.control_id)
    if where.received_from is not None:
        conditions.append(messages.c.received_at >= where.received_from)
    if where.received_to is not None:
        conditions.append(messages.c.received_at < where.received_to)
    if after is not None:
        conditions.append(after_key((messages.c.received_at, messages.c.id), after, (True, True)))
    rows = (
        await conn.execute(
            select(*_MESSAGE_COLUMNS)
            .where(*conditions)
            .order_by(messages.c.received_at.desc(), messages.c.id.desc())
            .limit(limit + 1)
        )
    ).mappings()
    return page_of([((row["received_at"], row["id"]), MessageView(**row)) for row in rows], limit)


async def get_message(conn: AsyncConnection, message_id: int) -> KeptMessage | None:
    """The message log entry with this id and its bytes as received, or None."""
    row = (
        (
            await conn.execute(
                select(*_MESSAGE_COLUMNS, messages.c.raw).where(messages.c.id == message_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return KeptMessage(MessageView(**{c.name: row[c.name] for c in _MESSAGE_COLUMNS}), row["raw"])


async def get_message_outcome(conn: AsyncConnection, message_id: int) -> str | None:
    """The recorded outcome of the message with this id, or None when there is none."""
    return await conn.scalar(select(messages.c.outcome).where(messages.c.id == message_id))


async def ping(conn: AsyncConnection) -> None:
    """A round trip to the database (readiness)."""
    await conn.execute(select(1))
