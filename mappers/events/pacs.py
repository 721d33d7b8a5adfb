"""What the PACS reconciler found when it asked the PACS for the studies of a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class PacsStudyHeld:
    """A study the PACS holds, as its STUDY-level C-FIND answer describes it."""

    study_instance_uid: str
    accession: str
    patient_id: str
    study_date: str
    modalities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PacsOrderMissing:
    """An order whose study the PACS does not hold."""

    accession: str
    study_instance_uid: str
    patient_id: str


@dataclass(frozen=True, slots=True)
class PacsReconciled:
    """The reconciler asked the PACS for the studies dated `window_first` to `window_last`:
    the orders whose study it lacks and the studies it holds for no order, or, when it did
    not answer, why (`reachable` false)."""

    checked_at: datetime
    window_first: date
    window_last: date
    reachable: bool
    error: str = ""
    missing: tuple[PacsOrderMissing, ...] = ()
    unordered: tuple[PacsStudyHeld, ...] = ()
