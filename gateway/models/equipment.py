"""Request and response models of the equipment routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from gateway.contract.types import Instant, RowId, one_of, to_utc
from gateway.models.common import Body, Query
from listeners.options import AETitle
from store.equipment import DeviceView, DowntimeView

MAX_WINDOW_DAYS = 366
GROUPS = ("modality", "location")
_WINDOW = (
    "`to` defaults to now and `from` to 7 days before `to`; `from` must be before `to` and "
    f"a window is at most {MAX_WINDOW_DAYS} days; otherwise 400."
)
Moment = Annotated[AwareDatetime, AfterValidator(to_utc)]


class DevicePath(Query):
    """A device's AE title."""

    ae_title: AETitle


class DowntimePath(DevicePath):
    """One declared downtime of a device."""

    id: RowId


class WindowQuery(Query):
    """A window of time [from, to)."""

    from_: Instant | None = Field(None, alias="from", description="Window start. " + _WINDOW)
    to: Instant | None = Field(None, description="Window end, exclusive (default: now).")


class FleetQuery(WindowQuery):
    """The fleet's window and grouping."""

    group_by: one_of(GROUPS) = Field("modality", description="modality (default) or location.")  # type: ignore[valid-type]


class DowntimeBody(Body):
    """Declared downtime: planned or not, from `start`, until `end` when known."""

    start: Moment
    end: Moment | None = Field(None, description="After start (400 otherwise); null: open.")
    planned: bool
    reason: Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")] = ""
    ticket: Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")] = ""


class DowntimeEnd(Body):
    """The end of a declared downtime."""

    end: Moment = Field(description="After the downtime's start (409 otherwise).")


class DeviceList(BaseModel):
    """Every device."""

    items: list[DeviceView]


class DowntimeList(BaseModel):
    """A device's declared downtime."""

    items: list[DowntimeView]
