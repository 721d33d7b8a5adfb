"""CT dose from vendors' Radiation Dose SRs (TID 10011), checked against values read from the
objects by hand (dcmdump). The objects are OpenREM's test files: GPL-3, so they are fetched
from the package index at test time (the `vendor_files` fixture, tests/conftest.py), never
kept in this repository."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from fixtures import dicom as fx
from mappers.dicom.dose_report import is_ct_dose_report, read_ct_dose_report
from mappers.dicom.instances import map_instance
from mappers.events import DoseReported, InstanceStored

# file -> (accession, total DLP mGy.cm, [(Mean CTDIvol mGy, DLP mGy.cm) of the first events])
BY_HAND = {
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm": ("ACC12345601", 724.52, [(0.14, 11.51), (1.2, 1.2)]),
    "CT-RDSR-Toshiba_DoseCheck.dcm": ("3599305798462538", 502.4, [(5.3, 251.2), (5.3, 251.2)]),
    "CT-RDSR-GEPixelMed.dcm": ("", 586.34, [(60.41, 475.04), (222.59, 111.3)]),
    "CT-RDSR-Philips_BigBore4DCT.dcm": ("", 541.1, [(23.7, 541.1)]),
    "CT-ESR-GE_VCT.dcm": ("001234512345678", 2002.39, []),  # an Enhanced SR, GE's older form
}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_vendor_dose_reports_give_the_values_read_by_hand(vendor_files: Path, name: str) -> None:
    """Total DLP, and each irradiation event's CTDIvol and DLP in document order."""
    accession, total, first_events = BY_HAND[name]
    ds = dcmread(vendor_files / name)
    assert is_ct_dose_report(ds)
    report = read_ct_dose_report(ds)
    assert (report.accession, report.total_dlp) == (accession, total)
    assert [(e.ctdivol, e.dlp) for e in report.events[: len(first_events)]] == first_events
    assert report.study_instance_uid == ds.StudyInstanceUID


def test_the_events_and_the_largest_ctdivol_of_a_long_report(vendor_files: Path) -> None:
    """GE's Enhanced SR: 27 irradiation events; the study's largest CTDIvol is 176.12 mGy."""
    report = read_ct_dose_report(dcmread(vendor_files / "CT-ESR-GE_VCT.dcm"))
    assert (len(report.events), report.max_ctdivol) == (27, 176.12)


def test_an_image_is_not_a_dose_report(vendor_files: Path) -> None:
    """A secondary capture of the dose screen carries no TID 10011 content."""
    assert not is_ct_dose_report(dcmread(vendor_files / "CT-SC-Philips_Brilliance16P.dcm"))


def test_a_report_without_a_total_sums_its_events() -> None:
    """A report with no CT Accumulated Dose Data: the total is the sum of the events' DLP."""

    def item(code: str, **values: object) -> Dataset:
        ds = Dataset()
        name = Dataset()
        name.CodeValue, name.CodingSchemeDesignator = code, "DCM"
        ds.ConceptNameCodeSequence = [name]
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        return ds

    def num(code: str, value: float) -> Dataset:
        measured = Dataset()
        measured.NumericValue = value
        return item(code, ValueType="NUM", MeasuredValueSequence=[measured])

    acquisitions = [
        item(
            "113819",
            ContentSequence=[item("113829", ContentSequence=[num("113830", c), num("113838", d)])],
        )
        for c, d in ((10.0, 100.0), (12.5, 250.0))
    ]
    report = item(
        "113701", SOPClassUID="1.2.840.10008.5.1.4.1.1.88.67", ContentSequence=acquisitions
    )
    assert is_ct_dose_report(report)
    parsed = read_ct_dose_report(report)
    assert (parsed.total_dlp, parsed.max_ctdivol) == (350.0, 12.5)


def test_a_stored_dose_report_also_gives_its_dose(vendor_files: Path) -> None:
    """C-STORE of a dose SR: the instance, and the study's dose with each event's values."""
    when = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    ds = dcmread(vendor_files / "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    events = map_instance(
        ds, calling_ae="CT01", transfer_syntax="1.2.840.10008.1.2.1", received_at=when,
        facility_tz=UTC,
    )  # fmt: skip
    (dose,) = [e for e in events if isinstance(e, DoseReported)]
    assert any(isinstance(e, InstanceStored) for e in events)
    assert (dose.accession, dose.total_dlp, dose.max_ctdivol) == ("ACC12345601", 724.52, 9.91)
    assert (dose.device_ae_title, dose.study_instance_uid) == ("CT01", ds.StudyInstanceUID)
    assert [(e.ctdivol, e.dlp) for e in dose.events[:2]] == [(0.14, 11.51), (1.2, 1.2)]


def test_an_image_gives_no_dose() -> None:
    """A CT image is an instance and nothing more."""
    when = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    events = map_instance(
        fx.ct_instance(), calling_ae="CT01", transfer_syntax="1.2.840.10008.1.2",
        received_at=when, facility_tz=UTC,
    )  # fmt: skip
    assert not [e for e in events if isinstance(e, DoseReported)]
