"""CT dose from a Radiation Dose Structured Report (TID 10011 "CT Radiation Dose").

A CT scanner sends its dose report as an X-Ray Radiation Dose SR (or, on older GE and
Toshiba scanners, an Enhanced SR of the same template) by C-STORE. The report holds one
"CT Acquisition" container per irradiation event, each with its Mean CTDIvol and DLP, and the
study's "CT Dose Length Product Total" in the "CT Accumulated Dose Data" container. OpenREM,
the open-source dose registry, reads the same template the same way.

Pure: the caller passes the dataset; nothing here reads a file or a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset

from mappers.dicom.values import text

# SOP classes that carry TID 10011 (PS3.4 Annex A: X-Ray Radiation Dose SR; Enhanced SR).
DOSE_REPORT_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.22"})

# Concept names of TID 10011 and its sub-templates (DCM coding scheme, PS3.16).
REPORT = "113701"  # X-Ray Radiation Dose Report
ACCUMULATED = "113811"  # CT Accumulated Dose Data
DLP_TOTAL = "113813"  # CT Dose Length Product Total
ACQUISITION = "113819"  # CT Acquisition
EVENT_UID = "113769"  # Irradiation Event UID
PROTOCOL = "125203"  # Acquisition Protocol
CT_DOSE = "113829"  # CT Dose
CTDI_VOL = "113830"  # Mean CTDIvol
DLP = "113838"  # DLP


@dataclass(frozen=True, slots=True)
class IrradiationEvent:
    """One CT acquisition: its UID, protocol, Mean CTDIvol (mGy) and DLP (mGy.cm)."""

    event_uid: str
    protocol: str
    ctdivol: float | None
    dlp: float | None


@dataclass(frozen=True, slots=True)
class CtDoseReport:
    """What a CT dose report says of one study."""

    study_instance_uid: str
    accession: str
    total_dlp: float | None  # mGy.cm; the sum of the events' DLP when the report has none
    events: tuple[IrradiationEvent, ...]

    @property
    def max_ctdivol(self) -> float | None:
        """The largest Mean CTDIvol of the study (mGy), as dose reference levels compare."""
        values = [e.ctdivol for e in self.events if e.ctdivol is not None]
        return max(values) if values else None


def is_ct_dose_report(ds: Dataset) -> bool:
    """True for an SR whose document title is the X-Ray Radiation Dose Report with CT content."""
    if text(ds, "SOPClassUID") not in DOSE_REPORT_CLASSES:
        return False
    title = ds.get("ConceptNameCodeSequence") or []
    if not title or text(title[0], "CodeValue") != REPORT:
        return False
    return any(_code(item) == ACQUISITION for item in _items(ds))


def read_ct_dose_report(ds: Dataset) -> CtDoseReport:
    """The study's CT dose: each irradiation event, and the total DLP."""
    events: list[IrradiationEvent] = []
    total: float | None = None
    for item in _items(ds):
        code = _code(item)
        if code == ACCUMULATED:
            total = next((_number(c) for c in _items(item) if _code(c) == DLP_TOTAL), None)
        elif code == ACQUISITION:
            events.append(_event(item))
    if total is None:
        measured = [e.dlp for e in events if e.dlp is not None]
        total = sum(measured) if measured else None
    return CtDoseReport(
        study_instance_uid=text(ds, "StudyInstanceUID"),
        accession=text(ds, "AccessionNumber"),
        total_dlp=total,
        events=tuple(events),
    )


def _event(acquisition: Dataset) -> IrradiationEvent:
    values: dict[str, str | float | None] = {}
    for item in _walk(acquisition):
        code = _code(item)
        if code == EVENT_UID:
            values[code] = text(item, "UID")
        elif code == PROTOCOL:
            values[code] = text(item, "TextValue")
        elif code in (CTDI_VOL, DLP) and code not in values:
            values[code] = _number(item)
    return IrradiationEvent(
        event_uid=str(values.get(EVENT_UID) or ""),
        protocol=str(values.get(PROTOCOL) or ""),
        ctdivol=_float(values.get(CTDI_VOL)),
        dlp=_float(values.get(DLP)),
    )


def _items(ds: Dataset) -> list[Dataset]:
    return [item for item in ds.get("ContentSequence") or [] if isinstance(item, Dataset)]


def _walk(ds: Dataset) -> Iterator[Dataset]:
    """Every content item below `ds`, depth first, in document order."""
    for item in _items(ds):
        yield item
        yield from _walk(item)


def _code(item: Dataset) -> str:
    names = item.get("ConceptNameCodeSequence") or []
    return text(names[0], "CodeValue") if names else ""


def _number(item: Dataset) -> float | None:
    """A NUM item's value; None when it has none (PS3.3 C.18.1: an empty measured value)."""
    measured = item.get("MeasuredValueSequence") or []
    if not measured:
        return None
    try:
        return float(measured[0].get("NumericValue"))
    except (TypeError, ValueError):
        return None


def _float(value: object) -> float | None:
    return value if isinstance(value, float) else None
