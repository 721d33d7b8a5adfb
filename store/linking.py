"""An operator links an unmatched study or step to an order, through the one writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mappers.events import StepLinked, StudyLinked
from store.errors import Rejection
from store.inbound import Inbound, Outcome
from store.ingest import Ingest
from store.schema import procedure_steps, studies


class LinkOutcome(StrEnum):
    """What became of a request to link an unmatched item to an order."""

    LINKED = "linked"
    NO_ITEM = "no_item"  # no such study or step
    NO_ORDER = "no_order"  # no order with that accession number
    ALREADY_LINKED = "already_linked"


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """An operator's request to link an unmatched study or step to an order."""

    kind: str  # study or procedure_step
    item_id: int
    accession: str
    peer: str  # who asked, for the message log
    raw: bytes  # the request as received, for the message log


_REFUSED = {
    Rejection.NO_ORDER: LinkOutcome.NO_ORDER,
    Rejection.NOT_UPDATABLE: LinkOutcome.ALREADY_LINKED,
    Rejection.UNKNOWN_INSTANCE: LinkOutcome.NO_ITEM,
}


async def link_unmatched(engine: AsyncEngine, ingest: Ingest, request: LinkRequest) -> LinkOutcome:
    """Link the item as its order's arrival would have; the writer logs and applies it.

    Raises:
        StoreUnavailable: nothing was stored.
    """
    table = studies if request.kind == "study" else procedure_steps
    uid = table.c.study_instance_uid if request.kind == "study" else table.c.sop_instance_uid
    async with engine.connect() as conn:
        found = (await conn.execute(select(uid).where(table.c.id == request.item_id))).scalar()
    if found is None:
        return LinkOutcome.NO_ITEM
    event = (
        StudyLinked(found, request.accession)
        if request.kind == "study"
        else StepLinked(found, request.accession)
    )
    now = datetime.now(UTC)
    stored = await ingest.submit(
        Inbound(
            protocol="api",
            received_at=now,
            peer=request.peer[:255],
            raw=request.raw,
            outcome=Outcome.APPLIED,
            events=(event,),
            message_type=f"link {request.kind}"[:32],
        )
    )
    if stored.rejection is not None:
        return _REFUSED[stored.rejection]
    return LinkOutcome.LINKED if stored.outcome is Outcome.APPLIED else LinkOutcome.NO_ITEM
