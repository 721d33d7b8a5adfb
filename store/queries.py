"""Read-side queries; each takes a connection and returns plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
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
        PatientView(
            identifier=row["identifier"],
            authority=row["authority"],
            family_name=row["family_name"],
            given_name=row["given_name"],
            birth_date=row["birth_date"],
            sex=row["sex"],
        )
        if row["identifier"] is not None
        else None
    )
    return OrderView(
        accession=row["accession"],
        status=row["status"],
        placer_number=row["placer_number"],
        filler_number=row["filler_number"],
        procedure_code=row["procedure_code"],
        procedure_text=row["procedure_text"],
        procedure_system=row["procedure_system"],
        modality=row["modality"],
        priority=row["priority"],
        ordering_provider_id=row["ordering_provider_id"],
        ordering_provider_name=row["ordering_provider_name"],
        reason=row["reason"],
        patient=patient,
        milestones={
            column.name.removesuffix("_at"): row[column.name]
            for column in _MILESTONE_COLUMNS
            if row[column.name] is not None
        },
        timeline=tuple(TimelineEntry(**entry) for entry in timeline.mappings()),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def ping(conn: AsyncConnection) -> None:
    """A round trip to the database (readiness)."""
    await conn.execute(select(1))
