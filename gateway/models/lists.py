"""Request and response models of the order and message routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from gateway.contract.types import RowId, Text, choices
from gateway.models.common import Query, Ranged, page_of
from mappers.events import Milestone
from store.ingest import Outcome
from store.queries import MessageView, OrderSummary

MILESTONES = tuple(m.value for m in Milestone)
OUTCOMES = tuple(o.value for o in Outcome)
# `identifier`, or `authority|identifier`: neither part empty (the last bar splits them).
_PATIENT = r"^(?:[^\x00]+\|)?[^|\x00]+$"
_MESSAGE_TYPE = r"^[A-Z0-9]{3}(\^[A-Z0-9]{3})?$"


class OrderQuery(Ranged):
    """Filters of the order list."""

    status: choices(MILESTONES, "Milestone names") = ()  # type: ignore[valid-type]
    modality: Text | None = Field(None, description="DICOM modality code, e.g. CT.")
    patient: Annotated[str, Field(pattern=_PATIENT, max_length=257)] | None = Field(
        None, description="Patient identifier, or authority|identifier."
    )
    accession: Text | None = Field(None, description="Accession number.")
    priority: Text | None = Field(None, description="Priority as ordered (ORC-7 / OBR-27), e.g. S.")
    patient_class: Text | None = Field(
        None, description="Patient class: emergency, inpatient, outpatient..."
    )


class MessageQuery(Ranged):
    """Filters of the message log."""

    outcome: choices(OUTCOMES, "Outcomes") = ()  # type: ignore[valid-type]
    type: Annotated[str, Field(pattern=_MESSAGE_TYPE)] | None = Field(
        None, description="A message type (ORM^O01) or family (ORM)."
    )
    control_id: Text | None = Field(None, description="MSH-10 (HL7) or the DICOM operation's key.")


class AccessionPath(Query):
    """An order's accession number."""

    accession: Text


class MessagePath(Query):
    """A message log entry's id."""

    id: RowId


@dataclass(frozen=True)
class KeptMessage(MessageView):
    """A message log entry with its content as text."""

    raw: str


class ReplayOutcome(BaseModel):
    """What a replay did."""

    message_id: int
    outcome: Any = Field(json_schema_extra={"enum": [*OUTCOMES, None]})
    ack_code: str | None


OrderPage = page_of(OrderSummary, "OrderPage")
MessagePage = page_of(MessageView, "MessagePage")
