"""The FHIR facade over real sockets, with data loaded through HL7 over MLLP and DICOM.

A real FHIR client (fhirpy) reads and searches every type; each resource it gets round-trips
through fhir.resources R4B (see tests/mappers/test_fhir_resources.py for the comparison).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome
from fhirpy.base.exceptions import ResourceNotFound
from sqlalchemy import event, select

from fixtures import dicom as fx
from fixtures.messages import orm_new_order
from gateway.keys import DICOM_LISTENER
from mappers.fhir.search_table import SEARCHES, Field, SearchParameter
from mappers.fhir.vocabulary import FILLER, ResourceType
from store.schema import patients
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.mappers.test_fhir_resources import assert_r4b_round_trip
from tests.support.dicom_scu import Scu
from tests.support.mllp_client import MllpClient

LIFECYCLE = Path(__file__).parents[2] / "fixtures" / "hl7" / "lifecycle"
ACSN = "http://terminology.hl7.org/CodeSystem/v2-0203|ACSN"
MPPS_UID = "1.2.826.0.9.77"
ALL_TYPES = [str(t) for t in ResourceType]
# Orders by ordered_at: LC0001 (2026-03-02), FH1, FH2, FH3 and FH4 (a tie with FH3).
ORDERS = [
    ("FH1", "FH-P1", "20261120080000", "CT"),
    ("FH2", "FH-P1", "20261121080000", "MR"),
    ("FH3", "FH-P2", "20261122080000", "US"),
    ("FH4", "FH-P1", "20261122080000", "CT"),
]
# ADT^A40: FH-P2 is merged into FH-P1.
MERGE = (
    "MSH|^~\\&|EMPI|GENERAL_HOSP|IMAGING_GW|RADIOLOGY|20261123100000||ADT^A40^ADT_A39|FH-MRG-1"
    "|P|2.5\rEVN|A40|20261123100000\rPID|1||FH-P1^^^GENERAL_HOSP^MR||DOE^JANE||19800101|F\r"
    "MRG|FH-P2^^^GENERAL_HOSP^MR\r"
)


@dataclass
class Loaded:
    """A running gateway with the test data in it, and a FHIR client pointed at it."""

    gateway: RunningGateway
    client: AsyncFHIRClient

    @property
    def base(self) -> str:
        return f"{self.gateway.http_url}/fhir"

    async def get(self, path: str, params: Any = None) -> tuple[int, dict[str, Any]]:
        """GET a /fhir path with plain aiohttp: (status, JSON body)."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.base}/{path}", params=params) as response,
        ):
            assert response.content_type == "application/fhir+json"
            return response.status, await response.json(content_type=None)

    async def find(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        """Every match of a search by fhirpy (following next links), as plain dicts."""
        found = await self.client.resources(resource_type).search(**params).fetch_all()
        return [resource.serialize() for resource in found]

    async def search(self, resource_type: str, params: Any = None) -> dict[str, Any]:
        """A searchset Bundle, checked valid R4B."""
        status, bundle = await self.get(resource_type, params)
        assert status == 200, bundle
        assert_r4b_round_trip(bundle)
        return bundle

    async def ids(self, resource_type: str, params: Any = None) -> list[str]:
        """The ids of the matches of one page."""
        bundle = await self.search(resource_type, params)
        return [e["resource"]["id"] for e in bundle.get("entry", ()) if _match(e)]

    async def values(self, resource_type: str, params: Any = None) -> list[str]:
        """The first identifier value of each match of one page (orders: the accession)."""
        bundle = await self.search(resource_type, params)
        return [
            e["resource"]["identifier"][0]["value"] for e in bundle.get("entry", ()) if _match(e)
        ]


def _match(entry: dict[str, Any]) -> bool:
    return entry["search"]["mode"] == "match"


async def _start(database_url: str) -> RunningGateway:
    """Start the gateway on a fresh database of its own."""
    return await start_gateway(gateway_settings(database_url))


async def _load(running: RunningGateway) -> None:
    """The exam lifecycle with two reports, four more orders, a merge, images and an MPPS."""
    client = await MllpClient.connect("127.0.0.1", running.mllp_port)
    try:
        messages = [path.read_bytes() for path in sorted(LIFECYCLE.glob("*.hl7"))]
        messages += [
            orm_new_order(acc, control_id=f"C-{acc}", patient_id=pid, ordered_at=at, modality=mod)
            for acc, pid, at, mod in ORDERS
        ]
        for message in [*messages, MERGE.encode()]:
            assert b"MSA|AA|" in await client.send(message)
    finally:
        await client.close()
    modality = Scu(running.app[DICOM_LISTENER].port, ae_title="CT01")
    images = [fx.ct_instance("LC0001", patient_id="LC-MRN-1", instance_number=n) for n in (1, 2)]
    images += [
        fx.ct_instance(
            "LC0001",
            patient_id="LC-MRN-1",
            series_uid=fx.uid_for("LC0001", "series", "2"),
            instance_number=3,
        ),
        # A study no order matches, of a patient the gateway has no record of.
        fx.ct_instance("NOORDER1", patient_id="STRANGER", study_start=datetime(2026, 3, 3, 10)),
    ]
    assert await asyncio.to_thread(modality.store, *images) == [0, 0, 0, 0]
    started = fx.mpps_n_create("LC0001", study_uid=fx.uid_for("LC0001", "study"), station_ae="CT01")
    assert (await asyncio.to_thread(modality.n_create, MPPS_UID, started))[0] == 0
    assert (await asyncio.to_thread(modality.n_set, MPPS_UID, fx.mpps_n_set()))[0] == 0


@pytest.fixture
async def loaded(database_url: str) -> AsyncIterator[Loaded]:
    """A gateway on a fresh database of each kind, loaded through its real intake paths."""
    running = await _start(database_url)
    try:
        await _load(running)
        yield Loaded(running, AsyncFHIRClient(f"{running.http_url}/fhir"))
    finally:
        await running.runner.cleanup()


async def test_fhirpy_searches_and_reads_every_type(loaded: Loaded) -> None:
    """Every resource of every type, searched and read back, is valid R4B and the same."""
    expected = {
        "Patient": 2,  # LC-MRN-1 and FH-P1; FH-P2 is merged into FH-P1
        "ServiceRequest": 5,
        "ImagingStudy": 2,
        "DiagnosticReport": 2,
        "Device": 1,
        "Procedure": 1,
    }
    statuses = {
        "ServiceRequest": {"active", "completed"},
        "ImagingStudy": {"available"},
        "DiagnosticReport": {"preliminary", "final"},
        "Procedure": {"completed"},
        "Device": {"active"},
    }
    for resource_type in ALL_TYPES:
        found = await loaded.client.resources(resource_type).fetch_all()
        if resource_type == "AuditEvent":  # one per recorded call so far: the searches above
            assert len(found) >= len(expected), resource_type
        else:
            assert len(found) == expected[resource_type], resource_type
        for resource in found:
            data = resource.serialize()
            assert_r4b_round_trip(data)
            read = await loaded.client.reference(resource_type, resource.id).to_resource()
            assert read.serialize() == data
        if resource_type in statuses:
            assert {r["status"] for r in found} == statuses[resource_type]
    with pytest.raises(ResourceNotFound):
        await loaded.client.reference("ServiceRequest", "999999").to_resource()


async def test_order_study_report_and_step_found_by_accession(loaded: Loaded) -> None:
    """Identifier searches find LC0001's order, study, reports and MPPS, all linked."""
    (order,) = await loaded.find(
        "ServiceRequest", identifier="urn:imaging-gateway:accession|LC0001"
    )
    assert order["status"] == "completed" and order["priority"] == "stat"
    order_ref = f"ServiceRequest/{order['id']}"
    (study,) = await loaded.find("ImagingStudy", identifier="LC0001")
    assert study["basedOn"] == [{"reference": order_ref}]
    assert study["subject"] == order["subject"]
    assert study["numberOfSeries"] == 2 and study["numberOfInstances"] == 3
    assert sorted(s["numberOfInstances"] for s in study["series"]) == [1, 2]
    assert {s["modality"]["code"] for s in study["series"]} == {"CT"}
    uid = study["identifier"][0]
    assert uid["system"] == "urn:dicom:uid" and uid["value"].startswith("urn:oid:2.25.")
    assert await loaded.find("ImagingStudy", identifier=f"urn:dicom:uid|{uid['value']}") == [study]
    # IHE's way: the identifier of type ACSN (fhirpy writes `identifier:of-type`).
    reports = await loaded.find(
        "DiagnosticReport", identifier__of_type=f"{ACSN}|LC0001", _sort="date"
    )
    assert [r["status"] for r in reports] == ["preliminary", "final"]
    assert all(r["basedOn"] == [{"reference": order_ref}] for r in reports)
    text = base64.b64decode(reports[1]["presentedForm"][0]["data"]).decode("utf-8")
    assert "IMPRESSION:" in text and "1. No pneumothorax." in text
    (step,) = await loaded.find("Procedure", identifier="LC0001")
    assert step["basedOn"] == [{"reference": order_ref}] and step["status"] == "completed"
    assert step["performedPeriod"] == {
        "start": "2026-03-02T09:30:00Z",
        "end": "2026-03-02T09:52:00Z",
    }
    (device,) = await loaded.find("Device", identifier="urn:imaging-gateway:ae-title|CT01")
    assert step["performer"] == [{"actor": {"reference": f"Device/{device['id']}"}}]
    (patient,) = await loaded.find(
        "Patient", identifier="urn:imaging-gateway:authority:GENERAL_HOSP|LC-MRN-1"
    )
    assert order["subject"] == {"reference": f"Patient/{patient['id']}"}


async def test_paging_walks_every_page_by_next_links(loaded: Loaded) -> None:
    """_count=2 pages through each type in each order, each match once, as one big page has."""
    for resource_type in ALL_TYPES:
        for sort in (None, *SEARCHES[ResourceType(resource_type)].sorts):
            params = {"_sort": sort} if sort else {}
            whole = await loaded.ids(resource_type, {**params, "_count": "200"})
            seen: list[str] = []
            bundle = await loaded.search(resource_type, {**params, "_count": "2"})
            pages = 1
            while True:
                assert bundle["total"] == len(whole)
                seen += [e["resource"]["id"] for e in bundle.get("entry", ())]
                links = {link["relation"]: link["url"] for link in bundle["link"]}
                if "next" not in links:
                    break
                status, bundle = await loaded.get(links["next"].removeprefix(loaded.base + "/"))
                assert status == 200, bundle
                pages += 1
            assert seen == whole, (resource_type, sort)
            assert pages == max(1, -(-len(whole) // 2))
    # _count=0 answers the total alone.
    counted = await loaded.search("ServiceRequest", {"_count": "0"})
    assert counted["total"] == 5 and "entry" not in counted
    by_client = await loaded.client.resources("ServiceRequest").sort("-date").limit(2).fetch_all()
    assert [r.id for r in by_client] == await loaded.ids("ServiceRequest", {"_sort": "-date"})


async def test_include_adds_each_patient_once(loaded: Loaded) -> None:
    """_include=<Type>:patient adds the patients of the page with search mode include."""
    for resource_type in ("ServiceRequest", "ImagingStudy", "DiagnosticReport", "Procedure"):
        include = f"{resource_type}:patient"
        bundle = await loaded.search(resource_type, {"_include": include})
        matches = [e["resource"] for e in bundle["entry"] if _match(e)]
        included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
        referenced = {
            m["subject"]["reference"] for m in matches if "reference" in m.get("subject", {})
        }
        assert referenced, resource_type
        assert [f"Patient/{e['resource']['id']}" for e in included] == sorted(
            referenced, key=[m.get("subject", {}).get("reference") for m in matches].index
        )
        assert all(e["fullUrl"] == f"{loaded.base}/Patient/{e['resource']['id']}" for e in included)
        assert bundle["total"] == len(matches)
    # The study of the unknown patient has no Patient to include, and is still a match.
    bundle = await loaded.search("ImagingStudy", {"_include": "ImagingStudy:patient"})
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match", "match", "include"]


async def test_date_prefixes_select_by_time(loaded: Loaded) -> None:
    """eq, ge, gt, le, lt with years, days and date-times; repeats are AND, commas OR."""
    cases: list[tuple[str, Any, list[str]]] = [
        ("ServiceRequest", {"authored": "2026-11-21"}, ["FH2"]),
        ("ServiceRequest", {"authored": "ge2026-11-21"}, ["FH2", "FH3", "FH4"]),
        ("ServiceRequest", {"authored": "gt2026-11-21"}, ["FH3", "FH4"]),
        ("ServiceRequest", {"date": "lt2026-11-21"}, ["LC0001", "FH1"]),
        ("ServiceRequest", {"date": "le2026-11-21"}, ["LC0001", "FH1", "FH2"]),
        ("ServiceRequest", {"date": "2026"}, ["LC0001", "FH1", "FH2", "FH3", "FH4"]),
        ("ServiceRequest", {"date": "2026-03"}, ["LC0001"]),
        ("ServiceRequest", {"authored": "le2026-11-20T08:00:00Z"}, ["LC0001", "FH1"]),
        ("ServiceRequest", {"authored": "lt2026-11-20T08:00:00Z"}, ["LC0001"]),
        ("ServiceRequest", {"authored": "2026-11-20T09:00:00+01:00"}, ["FH1"]),
        ("ServiceRequest", [("date", "ge2026-11-21"), ("date", "lt2026-11-22")], ["FH2"]),
        ("ServiceRequest", {"date": "2026-11-20,2026-11-22"}, ["FH1", "FH3", "FH4"]),
        ("ImagingStudy", {"started": "2026-03-02"}, ["LC0001"]),
        ("ImagingStudy", {"date": "ge2026-03-03"}, ["NOORDER1"]),
        ("DiagnosticReport", {"date": "ge2026-03-02T09:30:00Z"}, ["LC0001"]),
        ("DiagnosticReport", {"date": "2026-03-02"}, ["LC0001", "LC0001"]),
        ("Procedure", {"date": "2026-03-02"}, ["1.2.826.0.9.77"]),
        ("Procedure", {"date": "lt2026-03-02"}, []),
    ]
    for resource_type, params, expected in cases:
        values = await loaded.values(resource_type, params)
        if resource_type == "ImagingStudy":
            bundle = await loaded.search(resource_type, params)
            values = [e["resource"]["identifier"][1]["value"] for e in bundle.get("entry", ())]
        if resource_type == "Procedure":
            values = [v.removeprefix("urn:oid:") for v in values]
        assert values == expected, (resource_type, params)
    # An offset's "+" sent unescaped arrives as a space, and is read as the "+" it was.
    url = f"{loaded.base}/ServiceRequest?authored=2026-11-20T09:00:00+01:00"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        bundle = await response.json(content_type=None)
    assert bundle["total"] == 1
    # _lastUpdated is the time the gateway stored the change.
    today = datetime.now(UTC).date()
    for resource_type in ALL_TYPES:
        total = (await loaded.search(resource_type, {"_lastUpdated": f"ge{today}"}))["total"]
        assert total > 0, resource_type
        tomorrow = today + timedelta(days=1)
        empty = await loaded.search(resource_type, {"_lastUpdated": f"ge{tomorrow}"})
        assert empty["total"] == 0 and "entry" not in empty


async def test_sort_by_date_and_last_update(loaded: Loaded) -> None:
    """_sort=date, -date (ties by id) and _lastUpdated order the matches."""
    ascending = await loaded.values("ServiceRequest", {"_sort": "date"})
    assert ascending == ["LC0001", "FH1", "FH2", "FH3", "FH4"]
    assert await loaded.values("ServiceRequest", {"_sort": "-date"}) == [
        "FH4",
        "FH3",
        "FH2",
        "FH1",
        "LC0001",
    ]
    reports = await loaded.search("DiagnosticReport", {"_sort": "-date"})
    assert [e["resource"]["status"] for e in reports["entry"]] == ["final", "preliminary"]
    bundle = await loaded.search("ServiceRequest", {"_sort": "_lastUpdated"})
    updated = [e["resource"]["meta"]["lastUpdated"] for e in bundle["entry"]]
    assert updated == sorted(updated)


async def test_other_parameters_narrow_the_search(loaded: Loaded) -> None:
    """patient/subject, status, modality and _id each narrow; a merged identifier resolves."""
    (survivor,) = await loaded.ids("Patient", {"identifier": "FH-P1"})
    # FH-P2 was merged into FH-P1: its identifier finds the survivor, its orders moved there.
    assert await loaded.ids("Patient", {"identifier": "|FH-P2"}) == []
    assert await loaded.ids("Patient", {"identifier": "FH-P2"}) == [survivor]
    async with loaded.gateway.engine.connect() as conn:
        merged_id = await conn.scalar(select(patients.c.id).where(patients.c.identifier == "FH-P2"))
    status, merged = await loaded.get(f"Patient/{merged_id}")
    assert status == 200 and merged["active"] is False
    assert merged["link"] == [
        {"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}
    ]
    cases: list[tuple[str, Any, list[str]]] = [
        ("ServiceRequest", {"patient": f"Patient/{survivor}"}, ["FH1", "FH2", "FH3", "FH4"]),
        ("ServiceRequest", {"patient": f"Patient/{merged_id}"}, ["FH1", "FH2", "FH3", "FH4"]),
        ("ServiceRequest", {"subject": survivor, "status": "active"}, ["FH1", "FH2", "FH3", "FH4"]),
        ("ServiceRequest", {"status": "completed"}, ["LC0001"]),
        ("ServiceRequest", {"status": "revoked,draft"}, []),
        ("ServiceRequest", {"identifier": "PLCFH2"}, ["FH2"]),
        ("ServiceRequest", {"identifier": f"{FILLER.system}|FILFH3"}, ["FH3"]),
        ("ServiceRequest", {"identifier": "urn:imaging-gateway:accession|PLCFH2"}, []),
        ("DiagnosticReport", {"status": "final"}, ["LC0001"]),
        ("DiagnosticReport", {"patient": survivor}, []),
        ("Procedure", {"status": "in-progress"}, []),
        ("Device", {"identifier": "CT01"}, ["CT01"]),
    ]  # fmt: skip
    for resource_type, params, expected in cases:
        assert await loaded.values(resource_type, params) == expected, (resource_type, params)
    studies = await loaded.search("ImagingStudy", {"modality": "CT", "status": "available"})
    assert studies["total"] == 2
    assert (await loaded.search("ImagingStudy", {"modality": "MR"}))["total"] == 0
    (order,) = await loaded.ids("ServiceRequest", {"identifier": "FH3"})
    assert await loaded.ids("ServiceRequest", {"_id": f"{order},999999"}) == [order]


async def test_a_search_is_one_statement_and_imaging_study_two(loaded: Loaded) -> None:
    """Page, total and included patients in one statement; a page of studies adds its series."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    engine = loaded.gateway.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for resource_type in ALL_TYPES:
            search = SEARCHES[ResourceType(resource_type)]
            params = {"_count": "1"} | ({"_include": search.include} if search.include else {})
            expected = 2 if resource_type == "ImagingStudy" else 1
            statements.clear()
            bundle = await loaded.search(resource_type, params)
            assert len(statements) == expected, (resource_type, statements)
            statements.clear()
            await loaded.get(f"{resource_type}/{bundle['entry'][0]['resource']['id']}")
            assert len(statements) == expected, (resource_type, statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_bad_requests_answer_operation_outcome(loaded: Loaded) -> None:
    """An unknown parameter or bad value is 400, an unknown type or id 404, each named."""
    cases: list[tuple[str, Any, int, str]] = [
        ("ServiceRequest", {"foo": "1"}, 400, "foo: "),
        ("ServiceRequest", {"authored": "2026-13-01"}, 400, "authored: "),
        ("ServiceRequest", {"authored": "sa2026"}, 400, "authored: "),
        ("ServiceRequest", {"status": "bogus"}, 400, "status: "),
        ("ServiceRequest", {"_sort": "priority"}, 400, "_sort: "),
        ("ServiceRequest", {"_count": "many"}, 400, "_count: "),
        ("ServiceRequest", {"_cursor": "xyz"}, 400, "_cursor: "),
        ("ServiceRequest", {"_include": "ServiceRequest:requester"}, 400, "_include: "),
        ("Device", {"patient": "1"}, 400, "patient: "),
        ("Observation", {}, 404, "Observation: "),
        ("Observation/1", {}, 404, "Observation: "),
        ("ServiceRequest/999999", {}, 404, "ServiceRequest/999999 "),
        ("ServiceRequest/not-a-row", {}, 404, "ServiceRequest/not-a-row "),
    ]
    for path, params, status, named in cases:
        got, body = await loaded.get(path, params)
        assert got == status, (path, params, body)
        outcome = OperationOutcome.model_validate(body)
        (issue,) = outcome.issue
        assert issue.code == ("invalid" if status == 400 else "not-found")
        assert issue.diagnostics.startswith(named), issue.diagnostics
    with pytest.raises(FhirpyOutcome, match="bogus"):
        await loaded.client.resources("ServiceRequest").search(bogus="1").fetch()


async def test_metadata_lists_exactly_what_the_table_serves(loaded: Loaded) -> None:
    """The CapabilityStatement is valid R4B, names the table's parameters, and each works."""
    status, statement = await loaded.get("metadata")
    assert status == 200
    assert_r4b_round_trip(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["implementation"]["url"] == loaded.base
    (rest,) = statement["rest"]
    assert [r["type"] for r in rest["resource"]] == ALL_TYPES
    for resource in rest["resource"]:
        search = SEARCHES[ResourceType(resource["type"])]
        assert [p["name"] for p in resource["searchParam"]] == [p.name for p in search.parameters]
        assert resource.get("searchInclude", []) == ([search.include] if search.include else [])
        # Everything listed is served: each parameter, each sort and the include.
        for parameter in search.parameters:
            value = _example(parameter, search.statuses)
            await loaded.search(resource["type"], {parameter.name: value})
        for sort in search.sorts:
            await loaded.search(resource["type"], {"_sort": sort})
        if search.include:
            await loaded.search(resource["type"], {"_include": search.include})


def _example(parameter: SearchParameter, statuses: dict[str, tuple[str, ...]]) -> str:
    """A value of the right kind for a search parameter."""
    if parameter.field is Field.STATUS:
        return next(iter(statuses))
    return {
        Field.ID: "1",
        Field.IDENTIFIER: "LC0001",
        Field.PATIENT: "Patient/1",
        Field.DATE: "ge2026-01-01",
        Field.LAST_UPDATED: "ge2026-01-01T00:00:00Z",
        Field.MODALITY: "CT",
    }[parameter.field]
