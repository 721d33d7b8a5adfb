"""Request and response models of the outbox routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gateway.contract.types import RowId, Text
from gateway.models.common import Paged, Query, page_of
from store.outbox import OutboxView

STATES = ("pending", "delivered", "dead")


class OutboxQuery(Paged):
    """Filters of the outbox list."""

    state: Literal["pending", "delivered", "dead"] | None = Field(
        None, description="pending (not acknowledged yet), delivered, or dead (a dead letter)."
    )
    destination: Text | None = Field(None, description="A destination's name from the settings.")


class OutboxPath(Query):
    """An outbox row's id."""

    id: RowId


class RetryOutcome(BaseModel):
    """A dead letter made pending again."""

    id: int
    state: Literal["pending"]


OutboxPage = page_of(OutboxView, "OutboxPage")
