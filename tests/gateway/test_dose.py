"""Dose against reference levels: vendor CT dose reports sent by C-STORE and MPPS dose, linked
to orders placed over HL7 (one before its report, one after), checked against values read
from the objects by hand (tests/mappers/dicom/test_dose_report.py; dcmdump)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydicom import dcmread

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from gateway.settings import DoseSettings
from store.figures import percentile
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient

# The reference level of a CT head (CT/70450), as a site sets it.
DRL = {"CT/70450": {"ctdivol": 60.0, "dlp": 1000.0}}

# Read by hand: file -> (accession, largest Mean CTDIvol mGy, total DLP mGy.cm).
SIEMENS = ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", "ACC12345601", 9.91, 724.52)
TOSHIBA = ("CT-RDSR-Toshiba_DoseCheck.dcm", "3599305798462538", 5.3, 502.4)
GE_VCT = ("CT-ESR-GE_VCT.dcm", "001234512345678", 176.12, 2002.39)
GE_UNORDERED = ("CT-RDSR-GEPixelMed.dcm", "", 222.59, 586.34)  # no accession, no description
# MPPS of a fourth CT head: one acquisition, CTDIvol 12.5 mGy, DLP 400 mGy.cm.
MPPS_ONLY = ("MPPS0001", 12.5, 400.0)


def _recent(minutes: int) -> datetime:
    """A time that many minutes ago, as a modality writes it (facility time, UTC here)."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(tzinfo=None)


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    """A gateway with a reference level for CT/70450."""
    levels = DoseSettings.model_validate({"drl": DRL}).drl
    running = await start_gateway(gateway_settings(database_url, dose={"drl": levels}))
    try:
        yield running
    finally:
        await running.runner.cleanup()


async def _order(gateway: RunningGateway, accession: str) -> None:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        message = orm_new_order(
            accession, control_id=f"ORM-{accession}", procedure_code="70450",
            procedure_text="CT HEAD W/O CONTRAST",
        )  # fmt: skip
        assert b"MSA|AA|" in await client.send(message)
    finally:
        await client.close()


async def _store(gateway: RunningGateway, folder: Path, name: str, ae_title: str) -> None:
    ds = dcmread(folder / name)
    scu = Scu(gateway.app[DICOM_LISTENER].port, ae_title=ae_title)
    assert await asyncio.to_thread(scu.store_as_read, ds) == [0]


async def _mpps(gateway: RunningGateway, accession: str, uid: str, ctdi: float, dlp: float) -> None:
    scu = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT_MPPS")
    started = fx.mpps_n_create(accession=accession, station_ae="CT_MPPS", start=_recent(60))
    assert (await asyncio.to_thread(scu.n_create, uid, started))[0] == 0
    done = fx.mpps_n_set(ct_acquisitions=[(ctdi, dlp)], total_dlp=dlp, end=_recent(45))
    assert (await asyncio.to_thread(scu.n_set, uid, done))[0] == 0


async def _dose(gateway: RunningGateway, group_by: str) -> Any:
    url = f"{gateway.http_url}/api/v1/dose"
    async with aiohttp.ClientSession() as http, http.get(url, params={"group_by": group_by}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def _spread(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": percentile(values, 50), "p75": percentile(values, 75)}


async def _department_day(gateway: RunningGateway, vendor_files: Path) -> None:
    await _order(gateway, SIEMENS[1])  # the order first, then its report
    await _store(gateway, vendor_files, SIEMENS[0], "CT_SIEMENS")
    await _store(gateway, vendor_files, TOSHIBA[0], "CT_TOSHIBA")  # the report first...
    await _order(gateway, TOSHIBA[1])  # ... then its order, which links it
    await _order(gateway, GE_VCT[1])
    await _store(gateway, vendor_files, GE_VCT[0], "CT_GE")
    await _store(gateway, vendor_files, GE_UNORDERED[0], "CT_GE")
    await _order(gateway, MPPS_ONLY[0])
    await _mpps(gateway, MPPS_ONLY[0], "1.2.826.0.9.70450.1", MPPS_ONLY[1], MPPS_ONLY[2])
    # MPPS of an exam whose dose report came too: the report's figures stand.
    await _mpps(gateway, SIEMENS[1], "1.2.826.0.9.70450.2", 99.0, 9999.0)


async def test_dose_per_protocol_against_the_reference_level(
    gateway: RunningGateway, vendor_files: Path
) -> None:
    """p50 and p75 per protocol, by hand, and the one exam above its level."""
    await _department_day(gateway, vendor_files)
    dose = await _dose(gateway, "protocol")
    groups = {g["group"]: g for g in dose["groups"]}
    assert set(groups) == {"CT/70450", "(unknown)"}
    head = groups["CT/70450"]
    assert head["exams"] == 4
    # By hand: CTDIvol 5.3, 9.91, 12.5, 176.12 -> p50 11.205, p75 53.405; DLP 400, 502.4,
    # 724.52, 2002.39 -> p50 613.46, p75 1043.9875.
    assert head["ctdivol"] == _spread([9.91, 5.3, 176.12, 12.5])
    assert head["dlp"] == _spread([724.52, 502.4, 2002.39, 400.0])
    assert head["ctdivol"]["p50"] == pytest.approx(11.205)
    assert head["ctdivol"]["p75"] == pytest.approx(53.405)
    assert head["dlp"]["p50"] == pytest.approx(613.46)
    assert head["dlp"]["p75"] == pytest.approx(1043.9875)
    assert head["reference"] == DRL["CT/70450"]
    assert head["ctdivol_p50_to_reference"] == pytest.approx(11.205 / 60)
    assert head["dlp_p50_to_reference"] == pytest.approx(613.46 / 1000)
    unordered = groups["(unknown)"]
    assert (unordered["exams"], unordered["reference"]) == (1, None)
    assert unordered["ctdivol"] == _spread([222.59])
    assert unordered["dlp"] == _spread([586.34])

    (above,) = dose["above_reference"]
    assert (above["accession"], above["protocol"], above["device"], above["source"]) == (
        GE_VCT[1],
        "CT/70450",
        "CT_GE",
        "dose_report",
    )
    assert (above["ctdivol"], above["dlp"]) == (GE_VCT[2], GE_VCT[3])
    assert above["reference"] == DRL["CT/70450"]


async def test_dose_per_device(gateway: RunningGateway, vendor_files: Path) -> None:
    """Each scanner's exams, whether ordered or not; MPPS only where no report came."""
    await _department_day(gateway, vendor_files)
    dose = await _dose(gateway, "device")
    groups = {g["group"]: g for g in dose["groups"]}
    assert {name: g["exams"] for name, g in groups.items()} == {
        "CT_SIEMENS": 1,
        "CT_TOSHIBA": 1,
        "CT_GE": 2,
        "CT_MPPS": 1,
    }
    assert groups["CT_GE"]["ctdivol"] == _spread([GE_VCT[2], GE_UNORDERED[2]])
    assert groups["CT_GE"]["ctdivol"]["p75"] == pytest.approx(210.9725)  # by hand
    assert groups["CT_GE"]["dlp"] == _spread([GE_VCT[3], GE_UNORDERED[3]])
    assert groups["CT_SIEMENS"]["dlp"] == _spread([SIEMENS[3]])
    assert groups["CT_TOSHIBA"]["ctdivol"] == _spread([TOSHIBA[2]])
    assert groups["CT_MPPS"]["ctdivol"] == _spread([MPPS_ONLY[1]])
    assert groups["CT_MPPS"]["dlp"] == _spread([MPPS_ONLY[2]])
    assert all(g["reference"] is None for g in groups.values())  # levels are per protocol


async def test_each_irradiation_event_is_kept(gateway: RunningGateway, vendor_files: Path) -> None:
    """A report's rows: its total and one per irradiation event, with their values."""
    await _store(gateway, vendor_files, GE_VCT[0], "CT_GE")
    await _store(gateway, vendor_files, GE_VCT[0], "CT_GE")  # sent again: nothing added
    async with gateway.engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT event_uid, ctdivol, dlp FROM dose_events ORDER BY id"
            )
        ).all()
    total, *events = rows
    assert total == ("", GE_VCT[2], GE_VCT[3])
    assert len(events) == 27  # by hand, as the reader's test counts them
    assert max(e[1] for e in events if e[1] is not None) == GE_VCT[2]


async def test_reading_the_dose_list_is_audited(gateway: RunningGateway) -> None:
    """The dose list names exams: its read is in the audit trail; the scorecard's is not."""
    await _dose(gateway, "device")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.http_url}/api/v1/quality/senders") as response:
            assert response.status == 200
        async with http.get(f"{gateway.http_url}/api/v1/audit") as response:
            trail = (await response.json())["items"]
    assert [(e["entity"], e["path"], e["query"]) for e in trail] == [
        ("dose", "/api/v1/dose", "group_by=device")
    ]


async def test_the_window_defaults_to_the_last_90_days(gateway: RunningGateway) -> None:
    """An exam performed long ago counts only in a window that reaches back to it."""
    await _order(gateway, "OLD0001")
    scu = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT_OLD")
    started = fx.mpps_n_create(
        accession="OLD0001", station_ae="CT_OLD", start=datetime(2026, 3, 2, 9)
    )
    assert (await asyncio.to_thread(scu.n_create, "1.2.826.0.9.70450.9", started))[0] == 0
    done = fx.mpps_n_set(ct_acquisitions=[(30.0, 600.0)], end=datetime(2026, 3, 2, 9, 20))
    assert (await asyncio.to_thread(scu.n_set, "1.2.826.0.9.70450.9", done))[0] == 0
    assert (await _dose(gateway, "device"))["groups"] == []
    url = f"{gateway.http_url}/api/v1/dose"
    params = {
        "group_by": "device",
        "since": "2026-03-02T00:00:00Z",
        "until": "2026-03-03T00:00:00Z",
    }
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
        (group,) = (await response.json())["groups"]
    assert (group["group"], group["exams"], group["ctdivol"]["p50"]) == ("CT_OLD", 1, 30.0)
