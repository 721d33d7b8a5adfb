"""A received CT dose report to the dose it proves (per irradiation event, and the total)."""

from __future__ import annotations

from datetime import datetime

from pydicom.dataset import Dataset

from mappers.dicom.dose_report import is_ct_dose_report, read_ct_dose_report
from mappers.dicom.values import text
from mappers.events import DoseReported, IrradiationDose


def map_dose_report(ds: Dataset, *, calling_ae: str, received_at: datetime) -> list[DoseReported]:
    """The dose a CT Radiation Dose SR reports; nothing for any other instance.

    The report is linked to its order through its study, as the images are: an order that
    arrives later links the study, and with it the dose.
    """
    if not is_ct_dose_report(ds):
        return []
    report = read_ct_dose_report(ds)
    return [
        DoseReported(
            sop_instance_uid=text(ds, "SOPInstanceUID"),
            study_instance_uid=report.study_instance_uid,
            accession=report.accession,
            device_ae_title=calling_ae,
            study_description=text(ds, "StudyDescription"),
            max_ctdivol=report.max_ctdivol,
            total_dlp=report.total_dlp,
            events=tuple(
                IrradiationDose(e.event_uid, e.protocol, e.ctdivol, e.dlp) for e in report.events
            ),
            received_at=received_at,
        )
    ]
