"""Read-side queries; each takes a connection and returns plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import Milestone
from store.schema import messages, order_timeline, orders, patients


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
class OrderView:
    """An order with its patient, milestones and timeline."""

    accession: str
    status: str
    placer_number: str
    filler_number: str
    procedure_code: str
    procedure_text: str
    procedure_system: str
    modality: str
    priority: str
    ordering_provider_id: str
    ordering_provider_name: str
    reason: str
    patient: PatientView | None
    milestones: dict[str, datetime]
    timeline: tuple[TimelineEntry, ...]
    created_at: datetime
    updated_at: datetime


_MILESTONE_COLUMNS = [orders.c[f"{m.value}_at"] for m in Milestone]
# OrderView fields read straight from same-named order columns.
_ORDER_COLUMNS = [f.name for f in fields(OrderView) if f.name in orders.c]
_PATIENT_FIELDS = [f.name for f in fields(PatientView)]


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
    patient = (
        PatientView(**{name: row[name] for name in _PATIENT_FIELDS})
        if row["identifier"] is not None
        else None
    )
    return OrderView(
        **{name: row[name] for name in _ORDER_COLUMNS},
        patient=patient,
        milestones={
            column.name.removesuffix("_at"): row[column.name]
            for column in _MILESTONE_COLUMNS
            if row[column.name] is not None
        },
        timeline=tuple(TimelineEntry(**entry) for entry in timeline.mappings()),
    )


async def ping(conn: AsyncConnection) -> None:
    """A round trip to the database (readiness)."""
    await conn.execute(select(1))
