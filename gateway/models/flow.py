"""Request and response models of the patient-flow routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from gateway.contract.types import GroupValue, Instant, RowId, Text, choices, one_of
from gateway.models.common import Body, Paged, Query, page_of
from store.figures import FIGURES, INTERVAL_SECONDS
from store.reading.board import BOARD_STATES, BoardItem
from store.reading.turnaround import GROUPS, FigureRow
from store.reading.unmatched import UNMATCHED_KINDS, UnmatchedItem
from store.reading.volumes import VOLUME_GROUPS, VolumeRow

MAX_TURNAROUND_DAYS = 366
# The longest range each volume interval may cover, to bound the number of buckets.
MAX_VOLUME_DAYS = {"hour": 31, "day": 366, "week": 3 * 366}
_WINDOW = (
    "`to` defaults to now and `from` to 7 days before `to`; `from` must be before `to`, and "
    "the range may span at most {days}; otherwise 400 naming `from`."
)


class BoardQuery(Paged):
    """Filters of the board."""

    modality: Text | None = Field(None, description="DICOM modality code.")
    device: Text | None = Field(None, description="Device AE title.")
    state: choices(BOARD_STATES, "Board states") = ()  # type: ignore[valid-type]


class FigureWindow(Paged):
    """A window of figures, chosen by each figure's END time."""

    from_: Instant | None = Field(
        None,
        alias="from",
        description="Window start (END time of each figure). "
        + _WINDOW.format(days=f"{MAX_TURNAROUND_DAYS} days"),
    )
    to: Instant | None = Field(None, description="Window end, exclusive (default: now).")


class TurnaroundQuery(FigureWindow):
    """What the turnaround figures are computed over and grouped by."""

    group_by: one_of(GROUPS) | None = None  # type: ignore[valid-type]
    figure: choices(tuple(FIGURES), "Figures (default all); may be repeated") = ()  # type: ignore[valid-type]


class FigureOrdersQuery(FigureWindow):
    """The orders behind one turnaround figure, narrowed to one group of it."""

    figure: one_of(tuple(FIGURES))  # type: ignore[valid-type]
    modality: GroupValue | None = Field(None, description="Modality group (empty: none recorded).")
    priority: GroupValue | None = Field(None, description="Priority group (empty: none recorded).")
    patient_class: GroupValue | None = Field(
        None, description="Patient class group (empty: none recorded)."
    )


class VolumesQuery(Paged):
    """What the volumes are counted over and bucketed by."""

    from_: Instant | None = Field(
        None,
        alias="from",
        description="Window start. "
        + _WINDOW.format(days="31 days by hour, 366 by day, 1098 by week"),
    )
    to: Instant | None = Field(None, description="Window end, exclusive (default: now).")
    interval: one_of(tuple(INTERVAL_SECONDS)) = "day"  # type: ignore[valid-type]
    group_by: one_of(VOLUME_GROUPS) | None = None  # type: ignore[valid-type]


class UnmatchedQuery(Paged):
    """Which unmatched items to list."""

    kind: choices(UNMATCHED_KINDS, "Kinds") = ()  # type: ignore[valid-type]


class LinkPath(Query):
    """The unmatched item to link."""

    kind: Literal["study", "procedure_step"]
    id: RowId


class LinkBody(Body):
    """The order to link to."""

    accession: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]*\S[^\x00]*$")]


class Linked(BaseModel):
    """A link made."""

    kind: str
    id: int
    accession: str
    linked: bool


class BoardPage(BaseModel):
    """The department now: counts per state and one page of the open orders."""

    now: datetime
    day: date
    counts: dict[str, int]
    by_modality: dict[str, dict[str, int]]
    by_device: dict[str, dict[str, int]]
    items: list[BoardItem]
    next_cursor: str | None


TurnaroundPage = page_of(
    FigureRow,
    "TurnaroundPage",
    window=str,
    group_by=str | None,
    **{"from": datetime, "to": datetime},
)
VolumesPage = page_of(
    VolumeRow,
    "VolumesPage",
    interval=str,
    group_by=str | None,
    **{"from": datetime, "to": datetime},
)
UnmatchedPage = page_of(UnmatchedItem, "UnmatchedPage")
