"""MPPS N-CREATE and N-SET map to the device, the step, its end and its dose, or are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from fixtures.dicom import (
    PHILIPS_CREATOR,
    PHILIPS_DLP,
    PHILIPS_GROUP,
    mpps_n_create,
    mpps_n_set,
    uid_for,
)
from mappers.dicom import mpps
from mappers.dicom.datetimes import OFFSET_TAG
from mappers.dicom.errors import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    DicomMappingError,
)
from mappers.dicom.mpps import map_n_create, map_n_set, read_dose
from mappers.events import (
    DeviceSeen,
    PatientId,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ScheduledStep,
    StepStatus,
)

# Some datasets here hold invalid values on purpose; pydicom warns as they are set or read.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

BERLIN = ZoneInfo("Europe/Berlin")
RECEIVED = datetime(2026, 3, 2, 8, 30, 2, tzinfo=UTC)
MPPS_UID = "1.2.826.0.1.3680043.8.498.77"
STEP = ScheduledStep(
    accession="ACC0001",
    requested_procedure_id="RPACC0001",
    study_instance_uid=uid_for("ACC0001", "study"),
    scheduled_step_id="SPSACC0001",
)


def _create(ds: Dataset, calling_ae: str = "MODALITY1") -> list:
    return map_n_create(
        ds,
        sop_instance_uid=MPPS_UID,
        calling_ae=calling_ae,
        received_at=RECEIVED,
        facility_tz=BERLIN,
    )


def _set_step(ds: Dataset) -> list:
    return map_n_set(ds, sop_instance_uid=MPPS_UID, received_at=RECEIVED, facility_tz=BERLIN)


def _device(**changes: Any) -> DeviceSeen:
    fields: dict[str, Any] = {
        "ae_title": "CT01",
        "seen_at": RECEIVED,
        "station_name": "CT-ROOM-1",
        "modality": "CT",
        **changes,
    }
    return DeviceSeen(**fields)


def _created(**changes: Any) -> ProcedureStepCreated:
    fields: dict[str, Any] = {
        "sop_instance_uid": MPPS_UID,
        "status": StepStatus.IN_PROGRESS,
        "steps": (STEP,),
        "patient": PatientId("MRN0001", "GENERAL_HOSP"),
        "station_ae_title": "CT01",
        "modality": "CT",
        # 09:30 in Berlin (CET, +0100).
        "started_at": datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "ended_at": None,
        "dose": (),
        "received_at": RECEIVED,
        **changes,
    }
    return ProcedureStepCreated(**fields)


def _updated(**changes: Any) -> ProcedureStepUpdated:
    fields: dict[str, Any] = {
        "sop_instance_uid": MPPS_UID,
        "status": StepStatus.COMPLETED,
        "ended_at": datetime(2026, 3, 2, 8, 52, tzinfo=UTC),
        "dose": (),
        "received_at": RECEIVED,
        **changes,
    }
    return ProcedureStepUpdated(**fields)


def _set(keyword: str, value: Any) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, keyword, value)


def _drop(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _second_step(ds: Dataset) -> None:
    item = Dataset()
    item.StudyInstanceUID = uid_for("ACC0002", "study")
    item.AccessionNumber = "ACC0002"
    item.RequestedProcedureID = "RPACC0002"
    item.ScheduledProcedureStepID = ""
    ds.ScheduledStepAttributesSequence.append(item)


def _unscheduled(ds: Dataset) -> None:
    item = Dataset()
    item.StudyInstanceUID = "1.2.3.4"
    item.AccessionNumber = ""
    item.RequestedProcedureID = ""
    item.ScheduledProcedureStepID = ""
    ds.ScheduledStepAttributesSequence = [item]


# N-CREATE variations: how the dataset differs, the device's and the step's differences.
CREATE_VARIANTS: dict[str, tuple[Callable[[Dataset], None], dict[str, Any], dict[str, Any]]] = {
    "no station AE title": (
        _drop("PerformedStationAETitle"),
        {"ae_title": "MODALITY1"},
        {"station_ae_title": "MODALITY1"},
    ),
    "empty station AE title": (
        _set("PerformedStationAETitle", ""),
        {"ae_title": "MODALITY1"},
        {"station_ae_title": "MODALITY1"},
    ),
    "no station name": (_drop("PerformedStationName"), {"station_name": ""}, {}),
    "no patient id": (_set("PatientID", ""), {}, {"patient": None}),
    "no issuer": (_drop("IssuerOfPatientID"), {}, {"patient": PatientId("MRN0001", "")}),
    "offset from UTC": (
        _set("TimezoneOffsetFromUTC", "+0000"),
        {},
        {"started_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC)},
    ),
    "start with fraction": (
        _set("PerformedProcedureStepStartTime", "093000.5"),
        {},
        {"started_at": datetime(2026, 3, 2, 8, 30, 0, 500_000, tzinfo=UTC)},
    ),
    "end valued": (
        lambda ds: (
            setattr(ds, "PerformedProcedureStepEndDate", "20260302"),
            setattr(ds, "PerformedProcedureStepEndTime", "0945"),
        ),
        {},
        {"ended_at": datetime(2026, 3, 2, 8, 45, tzinfo=UTC)},
    ),
    "two scheduled steps": (
        _second_step,
        {},
        {
            "steps": (
                STEP,
                ScheduledStep("ACC0002", "RPACC0002", uid_for("ACC0002", "study"), ""),
            )
        },
    ),
    "unscheduled step": (
        _unscheduled,
        {},
        {"steps": (ScheduledStep(study_instance_uid="1.2.3.4"),)},
    ),
    "dose in the N-CREATE": (
        _set("TotalTimeOfFluoroscopy", 42),
        {},
        {"dose": (("total_time_of_fluoroscopy", 42.0),)},
    ),
    "MR": (
        _set("Modality", "MR"),
        {"modality": "MR"},
        {"modality": "MR"},
    ),
}


def test_n_create_maps_every_field() -> None:
    """The fixture's N-CREATE maps to the station seen and the step started, every field."""
    assert _create(mpps_n_create()) == [_device(), _created()]


@pytest.mark.parametrize("name", list(CREATE_VARIANTS))
def test_n_create_variants(name: str) -> None:
    """Each variation of the N-CREATE changes exactly the fields it should."""
    change, device, created = CREATE_VARIANTS[name]
    ds = mpps_n_create()
    change(ds)
    assert _create(ds) == [_device(**device), _created(**created)]


# N-CREATE refusals: how the dataset is broken, the status and the tag it names.
CREATE_FAILURES: dict[str, tuple[Callable[[Dataset], None], int, str]] = {
    "status absent": (_drop("PerformedProcedureStepStatus"), MISSING_ATTRIBUTE, mpps.STATUS),
    "status empty": (
        _set("PerformedProcedureStepStatus", ""),
        MISSING_ATTRIBUTE_VALUE,
        mpps.STATUS,
    ),
    "status COMPLETED": (
        _set("PerformedProcedureStepStatus", "COMPLETED"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.STATUS,
    ),
    "status DISCONTINUED": (
        _set("PerformedProcedureStepStatus", "DISCONTINUED"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.STATUS,
    ),
    "status unknown": (
        _set("PerformedProcedureStepStatus", "STARTED"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.STATUS,
    ),
    "start date absent": (
        _drop("PerformedProcedureStepStartDate"),
        MISSING_ATTRIBUTE,
        mpps.START_DATE,
    ),
    "start date empty": (
        _set("PerformedProcedureStepStartDate", ""),
        MISSING_ATTRIBUTE_VALUE,
        mpps.START_DATE,
    ),
    "start time absent": (
        _drop("PerformedProcedureStepStartTime"),
        MISSING_ATTRIBUTE,
        mpps.START_TIME,
    ),
    "start time empty": (
        _set("PerformedProcedureStepStartTime", ""),
        MISSING_ATTRIBUTE_VALUE,
        mpps.START_TIME,
    ),
    "step id absent": (_drop("PerformedProcedureStepID"), MISSING_ATTRIBUTE, mpps.STEP_ID),
    "step id empty": (_set("PerformedProcedureStepID", ""), MISSING_ATTRIBUTE_VALUE, mpps.STEP_ID),
    "modality absent": (_drop("Modality"), MISSING_ATTRIBUTE, mpps.MODALITY),
    "modality empty": (_set("Modality", ""), MISSING_ATTRIBUTE_VALUE, mpps.MODALITY),
    "scheduled steps absent": (
        _drop("ScheduledStepAttributesSequence"),
        MISSING_ATTRIBUTE,
        mpps.SCHEDULED_STEPS,
    ),
    "scheduled steps empty": (
        _set("ScheduledStepAttributesSequence", []),
        MISSING_ATTRIBUTE_VALUE,
        mpps.SCHEDULED_STEPS,
    ),
    "start date malformed": (
        _set("PerformedProcedureStepStartDate", "02.03.2026"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.START_DATE,
    ),
    "start time malformed": (
        _set("PerformedProcedureStepStartTime", "2530"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.START_TIME,
    ),
    "end date malformed": (
        _set("PerformedProcedureStepEndDate", "20260231"),
        INVALID_ATTRIBUTE_VALUE,
        mpps.END_DATE,
    ),
    "offset malformed": (
        _set("TimezoneOffsetFromUTC", "+01"),
        INVALID_ATTRIBUTE_VALUE,
        OFFSET_TAG,
    ),
}


@pytest.mark.parametrize("name", list(CREATE_FAILURES))
def test_n_create_refusals(name: str) -> None:
    """Each broken N-CREATE is refused with its PS3.4 F.7.2.1 status, naming the attribute."""
    change, status, tag = CREATE_FAILURES[name]
    ds = mpps_n_create()
    change(ds)
    with pytest.raises(DicomMappingError) as caught:
        _create(ds)
    assert (caught.value.status, caught.value.tag) == (status, tag)


def test_n_create_statuses_are_the_dimse_codes() -> None:
    """The statuses answered are PS3.7's: 0x0120, 0x0121 and 0x0106."""
    assert (MISSING_ATTRIBUTE, MISSING_ATTRIBUTE_VALUE, INVALID_ATTRIBUTE_VALUE) == (
        0x0120,
        0x0121,
        0x0106,
    )


@pytest.mark.parametrize(
    "tag",
    [
        mpps.STATUS,
        mpps.START_DATE,
        mpps.START_TIME,
        mpps.END_DATE,
        mpps.END_TIME,
        mpps.STEP_ID,
        mpps.MODALITY,
        mpps.SCHEDULED_STEPS,
        OFFSET_TAG,
    ],
)
def test_error_tags_agree_with_the_dictionary(tag: str) -> None:
    """Each tag an error names is the one the DICOM dictionary gives its keyword."""
    keyword = tag.split()[1]
    number = tag_for_keyword(keyword)
    assert number is not None
    assert tag == f"({number >> 16:04X},{number & 0xFFFF:04X}) {keyword}"


# N-SET cases: the modification list and the update expected.
SET_CASES: dict[str, tuple[Dataset, ProcedureStepUpdated]] = {
    "completed": (mpps_n_set(), _updated()),
    "discontinued": (
        mpps_n_set("DISCONTINUED", datetime(2026, 3, 2, 9, 35)),
        _updated(status=StepStatus.DISCONTINUED, ended_at=datetime(2026, 3, 2, 8, 35, tzinfo=UTC)),
    ),
    "in progress, no end": (
        mpps_n_set("IN PROGRESS", None, series_uids=["1.2.3"]),
        _updated(status=StepStatus.IN_PROGRESS, ended_at=None),
    ),
    "in progress with end": (
        mpps_n_set("IN PROGRESS"),
        _updated(status=StepStatus.IN_PROGRESS),
    ),
    "end with its offset": (
        mpps_n_set(end=datetime(2026, 3, 2, 9, 52, tzinfo=ZoneInfo("America/New_York"))),
        _updated(ended_at=datetime(2026, 3, 2, 14, 52, tzinfo=UTC)),
    ),
    "dose": (
        mpps_n_set(ct_acquisitions=[(12.5, 400.0), (8.25, 120.5)]),
        _updated(dose=(("ctdi_vol", 12.5), ("dlp", 520.5))),
    ),
}


def _without_status() -> Dataset:
    ds = mpps_n_set(fluoroscopy_seconds=90)
    del ds.PerformedProcedureStepStatus
    return ds


SET_CASES["no status, dose only"] = (
    _without_status(),
    _updated(status=None, dose=(("total_time_of_fluoroscopy", 90.0),)),
)


@pytest.mark.parametrize("name", list(SET_CASES))
def test_n_set(name: str) -> None:
    """Each N-SET maps to the step's status, end and dose as sent."""
    ds, expected = SET_CASES[name]
    assert _set_step(ds) == [expected]


def _no_end_time(ds: Dataset) -> None:
    del ds.PerformedProcedureStepEndTime


# N-SET refusals: the modification list, the status and the tag named.
SET_FAILURES: dict[str, tuple[Callable[[], Dataset], int, str]] = {
    "completed without end": (
        lambda: mpps_n_set("COMPLETED", None),
        MISSING_ATTRIBUTE_VALUE,
        mpps.END_DATE,
    ),
    "discontinued without end": (
        lambda: mpps_n_set("DISCONTINUED", None),
        MISSING_ATTRIBUTE_VALUE,
        mpps.END_DATE,
    ),
    "completed with empty end date": (
        lambda: _changed(mpps_n_set(), _set("PerformedProcedureStepEndDate", "")),
        MISSING_ATTRIBUTE_VALUE,
        mpps.END_DATE,
    ),
    "completed without end time": (
        lambda: _changed(mpps_n_set(), _no_end_time),
        MISSING_ATTRIBUTE_VALUE,
        mpps.END_TIME,
    ),
    "status empty": (lambda: mpps_n_set(""), MISSING_ATTRIBUTE_VALUE, mpps.STATUS),
    "status unknown": (lambda: mpps_n_set("CANCELLED"), INVALID_ATTRIBUTE_VALUE, mpps.STATUS),
    "end date malformed": (
        lambda: _changed(mpps_n_set(), _set("PerformedProcedureStepEndDate", "2026030")),
        INVALID_ATTRIBUTE_VALUE,
        mpps.END_DATE,
    ),
    "end time malformed": (
        lambda: _changed(mpps_n_set(), _set("PerformedProcedureStepEndTime", "0960")),
        INVALID_ATTRIBUTE_VALUE,
        mpps.END_TIME,
    ),
    "offset malformed": (
        lambda: _changed(mpps_n_set(), _set("TimezoneOffsetFromUTC", "Z")),
        INVALID_ATTRIBUTE_VALUE,
        OFFSET_TAG,
    ),
}


def _changed(ds: Dataset, change: Callable[[Dataset], None]) -> Dataset:
    change(ds)
    return ds


@pytest.mark.parametrize("name", list(SET_FAILURES))
def test_n_set_refusals(name: str) -> None:
    """Each broken N-SET is refused with its status (PS3.4 F.7.2.2), naming the attribute."""
    build, status, tag = SET_FAILURES[name]
    with pytest.raises(DicomMappingError) as caught:
        _set_step(build())
    assert (caught.value.status, caught.value.tag) == (status, tag)


def _raw(ds: Dataset, keyword: str, vr: str, value: bytes) -> Dataset:
    """Put an undecoded value in, as a dataset read off the wire holds it."""
    tag = BaseTag(Tag(keyword))
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return ds


def _philips(ds: Dataset, creator: str, vr: str, value: Any) -> Dataset:
    ds.private_block(PHILIPS_GROUP, creator, create=True).add_new(PHILIPS_DLP, vr, value)
    return ds


def _with(**attributes: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


# Dose cases: the dataset, the (name, value) pairs expected.
DOSE_CASES: dict[str, tuple[Dataset, tuple[tuple[str, float], ...]]] = {
    "nothing": (Dataset(), ()),
    "fluoroscopy": (
        mpps_n_set(fluoroscopy_seconds=125, entrance_dose_mgy=38.2, dose_area_product=1.75),
        (
            ("total_time_of_fluoroscopy", 125.0),
            ("entrance_dose_mgy", 38.2),
            ("dose_area_product", 1.75),
        ),
    ),
    "entrance dose in dGy": (_with(EntranceDose=5), (("entrance_dose_mgy", 500.0),)),
    "entrance dose in mGy wins": (
        _with(EntranceDose=5, EntranceDoseInmGy="12.5"),
        (("entrance_dose_mgy", 12.5),),
    ),
    "CTDIvol at the top": (_with(CTDIvol=9.5), (("ctdi_vol", 9.5),)),
    "CT acquisitions": (
        mpps_n_set(ct_acquisitions=[(10.0, 300.0), (14.5, 250.0), (3.0, 10.25)]),
        (("ctdi_vol", 14.5), ("dlp", 560.25)),
    ),
    "total DLP wins over the items": (
        mpps_n_set(ct_acquisitions=[(10.0, 300.0), (14.5, 250.0)], total_dlp=555.0),
        (("ctdi_vol", 14.5), ("dlp", 555.0)),
    ),
    "total DLP alone": (mpps_n_set(total_dlp=321.0), (("dlp", 321.0),)),
    "DLP read undecoded (UN)": (
        _philips(Dataset(), PHILIPS_CREATOR, "UN", b"250.5 "),
        (("dlp", 250.5),),
    ),
    "DLP of another creator ignored": (_philips(Dataset(), "ACME 1.0", "DS", "99"), ()),
    "not numbers skipped": (
        _raw(
            _raw(
                _with(ImageAndFluoroscopyAreaDoseProduct=2.5, CTDIvol=float("nan")),
                "EntranceDoseInmGy",
                "DS",
                b"n/a ",
            ),
            "TotalTimeOfFluoroscopy",
            "US",
            b"abc",
        ),
        (("dose_area_product", 2.5),),
    ),
    "empty values skipped": (
        _with(EntranceDoseInmGy="", ImageAndFluoroscopyAreaDoseProduct=None),
        (),
    ),
    "several values skipped": (_with(EntranceDoseInmGy=["1.5", "2.5"]), ()),
    "empty exposure sequence": (_with(ExposureDoseSequence=[]), ()),
}


@pytest.mark.parametrize("name", list(DOSE_CASES))
def test_read_dose(name: str) -> None:
    """Dose attributes become (name, value) pairs; values that are not numbers are skipped."""
    ds, expected = DOSE_CASES[name]
    assert read_dose(ds) == expected


def test_dose_comes_with_the_n_set() -> None:
    """The N-SET's dose reaches its update event, in the documented order."""
    ds = mpps_n_set(
        fluoroscopy_seconds=60,
        entrance_dose_mgy=2.0,
        dose_area_product=0.5,
        ct_acquisitions=[(5.0, 100.0)],
    )
    assert _set_step(ds)[0].dose == (
        ("total_time_of_fluoroscopy", 60.0),
        ("entrance_dose_mgy", 2.0),
        ("dose_area_product", 0.5),
        ("ctdi_vol", 5.0),
        ("dlp", 100.0),
    )
