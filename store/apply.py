"""Apply mapped events to the workflow tables, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, case, insert, literal, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import (
    PROGRESS,
    Event,
    Milestone,
    OrderPlaced,
    PatientId,
    PatientUpserted,
    PersonName,
)
from store.dialect import upsert
from store.schema import order_timeline, orders, patients


@dataclass(slots=True)
class ApplyContext:
    """What one message's events share while they are applied."""

    conn: AsyncConnection
    message_id: int
    now: datetime
    patient_ids: dict[PatientId, int] = field(default_factory=dict)


async def apply_events(
    conn: AsyncConnection, events: Sequence[Event], *, message_id: int, now: datetime
) -> None:
    """Apply each event in order; the caller owns (and commits) the transaction."""
    ctx = ApplyContext(conn=conn, message_id=message_id, now=now)
    for event in events:
        match event:
            case PatientUpserted():
                await _upsert_patient(ctx, event)
            case OrderPlaced():
                await _place_order(ctx, event)
            case _:
                raise TypeError(f"no store rule for event {type(event).__name__}")


async def _upsert_patient(ctx: ApplyContext, event: PatientUpserted) -> int:
    table = patients
    values = {
        "identifier": event.patient.value,
        "authority": event.patient.authority,
        **_name_columns(event.name),
        "birth_date": event.birth_date,
        "sex": event.sex,
        "demographics_at": event.occurred_at,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    statement = upsert(ctx.conn.dialect.name, table).values(values)
    incoming = statement.excluded
    # Out-of-order arrival: an older message does not overwrite newer demographics, and an
    # empty field does not erase a known value.
    newer = (table.c.demographics_at.is_(None)) | (
        incoming.demographics_at >= table.c.demographics_at
    )
    text_columns = [*_name_columns(PersonName()), "sex"]
    changes: dict[str, ColumnElement[object]] = {
        name: case((newer & (incoming[name] != ""), incoming[name]), else_=table.c[name])
        for name in text_columns
    }
    changes["birth_date"] = case(
        (newer & incoming.birth_date.is_not(None), incoming.birth_date), else_=table.c.birth_date
    )
    changes["demographics_at"] = case(
        (newer, incoming.demographics_at), else_=table.c.demographics_at
    )
    changes["updated_at"] = incoming.updated_at
    statement = statement.on_conflict_do_update(
        index_elements=["identifier", "authority"], set_=changes
    ).returning(table.c.id)
    patient_id = (await ctx.conn.execute(statement)).scalar_one()
    ctx.patient_ids[event.patient] = patient_id
    return patient_id


async def _patient_id(ctx: ApplyContext, patient: PatientId, occurred_at: datetime) -> int:
    """The row id of a patient this message named, creating a bare row for an unknown one."""
    known = ctx.patient_ids.get(patient)
    if known is not None:
        return known
    bare = PatientUpserted(
        patient=patient, name=PersonName(), birth_date=None, sex="", occurred_at=occurred_at
    )
    return await _upsert_patient(ctx, bare)


async def _place_order(ctx: ApplyContext, event: OrderPlaced) -> None:
    patient_id = await _patient_id(ctx, event.patient, event.ordered_at)
    details = {
        "patient_id": patient_id,
        "placer_number": event.placer_number,
        "filler_number": event.filler_number,
        "procedure_code": event.procedure.code,
        "procedure_text": event.procedure.text,
        "procedure_system": event.procedure.system,
        "modality": event.modality,
        "priority": event.priority,
        "ordering_provider_id": event.ordering_provider.id,
        "ordering_provider_name": _display_name(event.ordering_provider.name),
        "reason": event.reason,
    }
    statement = upsert(ctx.conn.dialect.name, orders).values(
        accession=event.accession,
        status=Milestone.ORDERED.value,
        created_at=ctx.now,
        updated_at=ctx.now,
        **details,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["accession"],
        set_={name: statement.excluded[name] for name in [*details, "updated_at"]},
    ).returning(orders.c.id)
    order_id = (await ctx.conn.execute(statement)).scalar_one()
    await set_milestone(ctx, order_id, Milestone.ORDERED, event.ordered_at)


async def set_milestone(
    ctx: ApplyContext, order_id: int, milestone: Milestone, occurred_at: datetime
) -> bool:
    """Set a milestone once, from the first message that proves it; True when this one did.

    The status moves forward to the milestone unless the order has ended (DESIGN.md, "The exam
    lifecycle"). A timeline row records the message that set it.
    """
    column = orders.c[f"{milestone.value}_at"]
    result = await ctx.conn.execute(
        update(orders)
        .where(orders.c.id == order_id, column.is_(None))
        .values({column: occurred_at, "status": _status_after(milestone), "updated_at": ctx.now})
    )
    if result.rowcount == 0:
        return False
    await ctx.conn.execute(
        insert(order_timeline).values(
            order_id=order_id,
            milestone=milestone.value,
            occurred_at=occurred_at,
            message_id=ctx.message_id,
            recorded_at=ctx.now,
        )
    )
    return True


def _status_after(milestone: Milestone) -> ColumnElement[str]:
    """SQL for the status once `milestone` is reached: the furthest milestone, ends excepted."""
    status = orders.c.status
    if milestone.ends_exam:
        return literal(milestone.value)
    earlier = [m.value for m in PROGRESS[: PROGRESS.index(milestone)]]
    if not earlier:
        return status
    return case((status.in_(earlier), literal(milestone.value)), else_=status)


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
