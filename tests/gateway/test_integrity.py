"""Integrity findings through the real HTTP API on both stores: a crafted day with one problem
of each kind, written through the writer; each finding once, with its evidence, gone once its
problem is fixed; the filters; the PACS reconciler against a stand-in PACS, and one that is
down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from fixtures.dicom import ct_instance
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER, INGEST, PACS_RECONCILER
from mappers.events import (
    CodedValue,
    Event,
    InstanceStored,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientId,
    PatientUpserted,
    PersonName,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    Provider,
    ReportIssued,
    ReportStatus,
    ScheduledStep,
    StepStatus,
)
from mappers.integrity import KINDS
from outbound.pacs import PacsStudy
from store.ingest import Outcome
from store.schema import audit_events
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.applied import applied_message
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient, segments
from tests.support.stand_in_pacs import StandInPacs

# The day is crafted around the moment each test starts (the API reads the real clock).
_NOW = [datetime.now(UTC)]
HOSP = "HOSP"
BIRTH = date(1970, 1, 2)
FEB = date(1970, 2, 1)


@pytest.fixture(autouse=True)
def _clock_at_start() -> None:
    _NOW[0] = datetime.now(UTC).replace(microsecond=0)


def ago(minutes: float) -> datetime:
    return _NOW[0] - timedelta(minutes=minutes)


async def send(gateway: RunningGateway, *events: Event) -> None:
    """Store the events as one applied message, as a listener would."""
    stored = await gateway.app[INGEST].submit(applied_message(events))
    assert stored.outcome is Outcome.APPLIED, stored


def person(
    identifier: str, name: str, sex: str, at: datetime, birth: date = BIRTH
) -> PatientUpserted:
    """A patient named FAMILY^GIVEN."""
    family, given = name.split("^")
    return PatientUpserted(PatientId(identifier, HOSP), PersonName(family, given), birth, sex, at)


def order(
    accession: str,
    identifier: str,
    modality: str,
    ordered_at: datetime,
    *,
    scheduled_start: datetime | None = None,
    study_uid: str = "",
) -> OrderPlaced:
    details = OrderDetails(
        procedure=CodedValue("X1", f"{modality} EXAM", "LOCAL"),
        modality=modality,
        priority="R",
        study_instance_uid=study_uid,
    )
    return OrderPlaced(accession, PatientId(identifier, HOSP), details, ordered_at, scheduled_start)


def image(
    study_uid: str,
    accession: str,
    identifier: str,
    received_at: datetime,
    *,
    modality: str = "CT",
    name: str = "",
    birth: date | None = None,
    sex: str = "",
) -> InstanceStored:
    return InstanceStored(
        study_instance_uid=study_uid,
        series_instance_uid=f"{study_uid}.1",
        sop_instance_uid=f"{study_uid}.1.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax="1.2.840.10008.1.2.1",
        accession=accession,
        patient=PatientId(identifier, HOSP),
        modality=modality,
        body_part="HEAD",
        study_started_at=received_at,
        study_description="",
        device_ae_title="CT01",
        received_at=received_at,
        patient_name=name,
        patient_birth_date=birth,
        patient_sex=sex,
    )


def step(
    uid: str, accession: str, status: StepStatus, started: datetime, ended: datetime | None
) -> ProcedureStepCreated:
    return ProcedureStepCreated(
        sop_instance_uid=uid,
        status=status,
        steps=(ScheduledStep(accession=accession),),
        patient=None,
        station_ae_title="CT01",
        modality="CT",
        started_at=started,
        ended_at=ended,
        dose=(),
        received_at=started,
    )


async def craft_day(gw: RunningGateway) -> None:
    """One problem of each store-side kind, and an order with no problem at all."""
    # Completed by MPPS three hours ago; no image came.
    await send(gw, person("P-NOIMG", "ALPHA^ANN", "F", ago(300)))
    await send(gw, order("A-NOIMG", "P-NOIMG", "CT", ago(300)))
    await send(gw, step("1.9.1", "A-NOIMG", StepStatus.COMPLETED, ago(195), ago(180)))
    # Images for no order, two hours ago; the same patient has an MR order placed at 3 h ago.
    await send(gw, person("P-UN", "BRAVO^BEN", "M", ago(300)))
    await send(gw, order("A-SUGG", "P-UN", "MR", ago(180)))
    await send(gw, image("1.9.2", "", "P-UN", ago(120), modality="MR", name="BRAVO^BEN"))
    # The study's header names JANE, female, born 1 February; the order's patient is JOHN,
    # male, born 2 January.
    await send(gw, person("P-MIS", "SMITH^JOHN", "M", ago(300)))
    await send(gw, order("A-MIS", "P-MIS", "CT", ago(120)))
    await send(gw, image("1.9.3", "A-MIS", "P-MIS", ago(60), name="SMITH^JANE", sex="F", birth=FEB))
    # An MPPS step IN PROGRESS for 13 hours.
    await send(gw, person("P-STEP", "CHARLIE^CAL", "M", ago(900)))
    await send(gw, order("A-STEP", "P-STEP", "CT", ago(840)))
    await send(gw, step("1.9.4", "A-STEP", StepStatus.IN_PROGRESS, ago(780), None))
    # A final report for an accession no order placed.
    report = ReportIssued(
        "A-REP", ReportStatus.FINAL, "text", Provider("R1"), ago(30), PatientId("P-REP", HOSP)
    )
    await send(gw, report)
    # A study under A-TWO's accession for another patient.
    await send(gw, person("P-TWO", "DELTA^DAN", "M", ago(300)))
    await send(gw, person("P-OTHER", "ECHO^EVE", "F", ago(300)))
    await send(gw, order("A-TWO", "P-TWO", "CT", ago(100)))
    await send(gw, image("1.9.6", "A-TWO", "P-OTHER", ago(50)))
    # An appointment three hours ago; the patient never arrived.
    await send(gw, person("P-NOSHOW", "FOXTROT^FAY", "F", ago(600)))
    await send(gw, order("A-NOSHOW", "P-NOSHOW", "CT", ago(600), scheduled_start=ago(180)))
    # All well: ordered, arrived, performed, imaged, reported.
    await send(gw, person("P-OK", "GOLF^GUS", "M", ago(600)))
    await send(gw, order("A-OK", "P-OK", "CT", ago(600), scheduled_start=ago(400)))
    await send(gw, PatientArrived(PatientId("P-OK", HOSP), ago(410), "A-OK"))
    await send(gw, step("1.9.8", "A-OK", StepStatus.COMPLETED, ago(395), ago(380)))
    await send(gw, image("1.9.8", "A-OK", "P-OK", ago(379), name="GOLF^GUS", sex="M"))


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(database_url))
    try:
        yield running
    finally:
        await running.runner.cleanup()


async def findings(gw: RunningGateway, **query: str) -> list[dict[str, Any]]:
    """Every finding the API lists for this query, across its pages."""
    items: list[dict[str, Any]] = []
    params = {**query, "limit": "3"}
    async with aiohttp.ClientSession() as client:
        while True:
            async with client.get(f"{gw.http_url}/api/v1/integrity", params=params) as answer:
                assert answer.status == 200, await answer.text()
                page = await answer.json()
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            params = {**query, "limit": "3", "cursor": page["next_cursor"]}


def by_kind(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item["kind"], []).append(item)
    return grouped


async def test_each_problem_of_the_day_is_found_once_with_its_evidence(
    gateway: RunningGateway,
) -> None:
    """One finding per problem, each with its link and evidence; the sound order has none."""
    await craft_day(gateway)
    found = by_kind(await findings(gateway))
    assert {kind: len(items) for kind, items in found.items()} == {
        "no_images": 1,
        "unordered_study": 1,
        "patient_mismatch": 1,
        "open_step": 1,
        "report_without_order": 1,
        "accession_reused": 1,
        "no_show": 1,
    }
    (no_images,) = found["no_images"]
    assert no_images["accession"] == "A-NOIMG" and no_images["link"] == "/api/v1/orders/A-NOIMG"
    assert no_images["evidence"]["status"] == "exam_completed"
    assert 179 <= no_images["evidence"]["minutes_without_images"] <= 182
    (unordered,) = found["unordered_study"]
    assert unordered["study_instance_uid"] == "1.9.2" and unordered["modality"] == "MR"
    assert unordered["link"].startswith("/fhir/ImagingStudy/")
    assert unordered["evidence"]["suggested_orders"] == ["A-SUGG"]
    assert unordered["evidence"]["patient_id"] == "P-UN"
    async with aiohttp.ClientSession() as client:
        async with client.get(gateway.http_url + unordered["link"]) as answer:
            assert answer.status == 200
            study = await answer.json(content_type=None)
        async with client.get(gateway.http_url + no_images["link"]) as answer:
            assert (await answer.json())["accession"] == "A-NOIMG"
    assert study["resourceType"] == "ImagingStudy"
    (mismatch,) = found["patient_mismatch"]
    assert (mismatch["accession"], mismatch["study_instance_uid"]) == ("A-MIS", "1.9.3")
    assert mismatch["evidence"]["disagreements"] == {
        "name": {"order": "SMITH^JOHN", "study": "SMITH^JANE"},
        "birth_date": {"order": "1970-01-02", "study": "1970-02-01"},
        "sex": {"order": "M", "study": "F"},
    }
    (open_step,) = found["open_step"]
    assert open_step["accession"] == "A-STEP" and open_step["evidence"]["step"] == "1.9.4"
    assert open_step["evidence"]["hours_open"] == pytest.approx(13.0, abs=0.1)
    (report,) = found["report_without_order"]
    assert report["accession"] == "A-REP"
    assert report["evidence"]["reports"] == 1 and report["evidence"]["statuses"] == ["final"]
    (reused,) = found["accession_reused"]
    assert (reused["accession"], reused["study_instance_uid"]) == ("A-TWO", "1.9.6")
    assert reused["evidence"]["disagreements"]["patient_id"] == {
        "order": "HOSP|P-TWO",
        "study": "HOSP|P-OTHER",
    }
    (no_show,) = found["no_show"]
    assert no_show["accession"] == "A-NOSHOW"
    assert no_show["at"].startswith(ago(180).isoformat()[:19])


async def test_each_finding_goes_when_its_problem_is_fixed(gateway: RunningGateway) -> None:
    """Images arrive, the order arrives, the step completes, the patient arrives, the RIS
    corrects the patient: no finding is left."""
    await craft_day(gateway)
    assert len(await findings(gateway)) == 7
    await send(gateway, image("1.9.1", "A-NOIMG", "P-NOIMG", ago(170), name="ALPHA^ANN"))
    await send(gateway, order("A-LATE", "P-UN", "MR", ago(150), study_uid="1.9.2"))
    await send(gateway, person("P-MIS", "SMITH^JANE", "F", ago(10), birth=FEB))
    await send(
        gateway,
        ProcedureStepUpdated("1.9.4", StepStatus.COMPLETED, ago(700), (), ago(700)),
        image("1.9.4", "A-STEP", "P-STEP", ago(700)),
    )
    await send(gateway, order("A-REP", "P-REP", "CT", ago(240)))
    details = OrderDetails(procedure=CodedValue("X1", "CT EXAM", "LOCAL"), modality="CT")
    await send(gateway, OrderChanged("A-TWO", PatientId("P-OTHER", HOSP), details, ago(5)))
    await send(gateway, PatientArrived(PatientId("P-NOSHOW", HOSP), ago(170), "A-NOSHOW"))
    assert await findings(gateway) == []


async def test_filters_kind_since_and_modality(gateway: RunningGateway) -> None:
    """`kind` narrows to the kinds named, `since` to problems begun since, `modality` to one."""
    await craft_day(gateway)
    kinds = by_kind(await findings(gateway, kind="no_show,open_step"))
    assert sorted(kinds) == ["no_show", "open_step"]
    recent = await findings(gateway, since=ago(90).isoformat())
    assert sorted(f["kind"] for f in recent) == [
        "accession_reused",
        "patient_mismatch",
        "report_without_order",
    ]
    mr = await findings(gateway, modality="MR")
    assert [(f["kind"], f["study_instance_uid"]) for f in mr] == [("unordered_study", "1.9.2")]
    assert await findings(gateway, modality="US") == []


async def test_a_bad_filter_is_a_problem_naming_it(gateway: RunningGateway) -> None:
    """An unknown kind or an unreadable time is a 400 problem+json naming the parameter."""
    async with aiohttp.ClientSession() as client:
        for params, name in (({"kind": "nonsense"}, "kind"), ({"since": "yesterday"}, "since")):
            url = f"{gateway.http_url}/api/v1/integrity"
            async with client.get(url, params=params) as answer:
                assert answer.status == 400
                assert answer.content_type == "application/problem+json"
                assert (await answer.json())["detail"].startswith(name)


async def test_reading_findings_is_audited(gateway: RunningGateway) -> None:
    """The findings name patients: each read is in the audit trail."""
    await findings(gateway)
    async with gateway.engine.connect() as conn:
        rows = (await conn.execute(select(audit_events.c.entity, audit_events.c.path))).all()
    assert ("integrity", "/api/v1/integrity") in rows


def test_every_kind_is_named_in_the_readme() -> None:
    """The README documents every kind."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"| `{kind}` |" in text, kind


async def test_over_the_wire_a_header_for_another_patient_is_found(
    gateway: RunningGateway,
) -> None:
    """An ORM^O01 over MLLP, then images by C-STORE from a real SCU: one under the order's
    accession naming JOHN where the order says JANE, one for another patient ID."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    ack = await client.send(orm_new_order("W-1", control_id="W1", patient_id="MRN-W"))
    await client.close()
    assert segments(ack)["MSA"][1] == "AA"
    modality = Scu(gateway.app[DICOM_LISTENER].port, ae_title="CT01")
    john = ct_instance("W-1", study_uid="1.7.1", patient_id="MRN-W", patient_name="DOE^JOHN")
    other = ct_instance("W-1", study_uid="1.7.2", patient_id="MRN-X")
    assert await asyncio.to_thread(modality.store, john, other) == [0, 0]
    found = by_kind(await findings(gateway, kind="patient_mismatch,accession_reused"))
    (mismatch,) = found["patient_mismatch"]
    assert mismatch["study_instance_uid"] == "1.7.1"
    assert mismatch["evidence"]["disagreements"] == {
        "name": {"order": "DOE^JANE", "study": "DOE^JOHN"}
    }
    (reused,) = found["accession_reused"]
    assert (reused["accession"], reused["study_instance_uid"]) == ("W-1", "1.7.2")


# PACS reconciliation -------------------------------------------------------------------------


@pytest.fixture
async def pacs_gateway(database_url: str) -> AsyncIterator[tuple[RunningGateway, StandInPacs]]:
    """A gateway reconciling with a stand-in PACS (on an interval longer than the test)."""
    today = f"{datetime.now(UTC):%Y%m%d}"
    pacs = StandInPacs(
        [
            PacsStudy("1.8.1", "A-HELD", "P-PACS", today, ("CT",)),
            PacsStudy("1.8.9", "X-EXTRA", "P-EXTRA", today, ("MR",)),
            PacsStudy("1.8.5", "A-YOUNG", "P-PACS", today, ("CT",)),
        ]
    )
    settings = gateway_settings(
        database_url,
        pacs={"host": "127.0.0.1", "port": pacs.peer.port, "ae_title": "PACS"},
    )
    running = await start_gateway(
        settings.model_copy(
            update={"pacs": settings.pacs.model_copy(update={"interval_minutes": 600})}
        )
    )
    try:
        yield running, pacs
    finally:
        await running.runner.cleanup()
        pacs.close()


async def test_reconciliation_lists_what_the_pacs_lacks_and_holds_for_no_order(
    pacs_gateway: tuple[RunningGateway, StandInPacs],
) -> None:
    """Orders completed over two hours ago whose study the PACS lacks, and PACS studies no
    order explains; an order completed a moment ago is not expected yet."""
    gw, pacs = pacs_gateway
    await send(gw, person("P-PACS", "HOTEL^HAL", "M", ago(600)))
    for accession in ("A-HELD", "A-LOST", "A-YOUNG"):
        await send(gw, order(accession, "P-PACS", "CT", ago(600)))
    await send(gw, step("1.8.11", "A-HELD", StepStatus.COMPLETED, ago(320), ago(300)))
    await send(gw, image("1.8.1", "A-HELD", "P-PACS", ago(299), name="HOTEL^HAL", sex="M"))
    await send(gw, step("1.8.12", "A-LOST", StepStatus.COMPLETED, ago(260), ago(240)))
    await send(gw, step("1.8.15", "A-YOUNG", StepStatus.COMPLETED, ago(20), ago(10)))
    event = await gw.app[PACS_RECONCILER].reconcile_once()
    assert event.reachable
    found = by_kind(await findings(gw, kind="pacs_missing,pacs_unordered,pacs_unreachable"))
    assert [f["accession"] for f in found["pacs_missing"]] == ["A-LOST"]
    assert found["pacs_missing"][0]["link"] == "/api/v1/orders/A-LOST"
    assert [f["study_instance_uid"] for f in found["pacs_unordered"]] == ["1.8.9"]
    assert found["pacs_unordered"][0]["evidence"]["patient_id"] == "P-EXTRA"
    assert "pacs_unreachable" not in found
    assert pacs.queries[-1].QueryRetrieveLevel == "STUDY"


async def test_a_pacs_that_is_down_is_a_finding_and_the_gateway_runs_on(
    pacs_gateway: tuple[RunningGateway, StandInPacs],
) -> None:
    """The PACS stops answering: one pacs_unreachable finding; the service keeps serving."""
    gw, pacs = pacs_gateway
    pacs.close()
    event = await gw.app[PACS_RECONCILER].reconcile_once()
    assert not event.reachable
    (finding,) = await findings(gw, kind="pacs_unreachable,pacs_missing,pacs_unordered")
    assert (
        finding["kind"] == "pacs_unreachable"
        and "PACS at 127.0.0.1" in finding["evidence"]["error"]
    )
    async with aiohttp.ClientSession() as client, client.get(f"{gw.http_url}/healthz") as answer:
        assert answer.status == 200
    await send(gw, person("P-AFTER", "INDIA^IAN", "M", ago(1)))
