"""Request and response models of the quality desk: the sender scorecard and dose."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.contract.types import Instant
from gateway.models.common import Query
from store.reading.dose import DoseGroup, ExamDose
from store.reading.senders import SenderQuality

_RANGE_RULE = "`since` must be before `until` (a 400 names `since` otherwise)."


class Window(Query):
    """A window [since, until); either bound may be left open."""

    model_config = ConfigDict(json_schema_extra={"description": _RANGE_RULE})

    since: Instant | None = Field(
        None,
        description="Start, inclusive: an RFC 3339 date-time with offset (default: 7 days "
        f"before `until` for the scorecard, 90 days for dose). {_RANGE_RULE}",
    )
    until: Instant | None = Field(
        None, description="End, exclusive: an RFC 3339 date-time (default: now)."
    )

    @model_validator(mode="after")
    def _since_before_until(self) -> Window:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since: must be before until")
        return self


class SendersQuery(Window):
    """The window of first arrivals the scorecard covers: by default the 7 days before
    `until` (default now)."""


class SenderScorecard(BaseModel):
    """Data quality per sender (application and facility), by first arrival in the window."""

    fields: list[str] = Field(description="The recommended fields counted when left empty.")
    items: list[SenderQuality]


class DoseQuery(Window):
    """How dose is grouped, over which window of exam times (a dose report's arrival, an MPPS
    step's end): by default the 90 days before `until` (default now)."""

    group_by: Literal["protocol", "device"] = Field(
        "protocol",
        description="protocol (`modality/procedure code` of the order, else the study "
        "description) or device (AE title).",
    )


class DoseReport(BaseModel):
    """p50 and p75 of CTDIvol (mGy) and DLP (mGy.cm) per group, beside the reference levels,
    and the exams above their level."""

    group_by: Literal["protocol", "device"]
    groups: list[DoseGroup]
    above_reference: list[ExamDose]
