"""Unmatched studies owed to webhooks by the clock-driven look, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest
from sqlalchemy import select

from mappers.events import InstanceStored, PatientId
from store.engine import create_engine
from store.fold.outbox import HL7, WEBHOOK, Route
from store.ingest import Inbound, Ingest, Outcome
from store.outbox_watch import owe_unmatched_studies
from store.schema import outbox

ROUTES = (
    Route("hooks", WEBHOOK, frozenset({"unmatched_study"})),
    Route("others", WEBHOOK, frozenset({"milestone"})),
    Route("ris", HL7, frozenset({"exam_started"})),
)


def _image(uid: str, at: datetime) -> Inbound:
    event = InstanceStored(
        study_instance_uid=uid,
        series_instance_uid=f"{uid}.1",
        sop_instance_uid=f"{uid}.1.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax="1.2.840.10008.1.2.1",
        accession="NOSUCHORDER",
        patient=PatientId("MRN9", "HOSP"),
        modality="CT",
        body_part="CHEST",
        study_started_at=None,
        study_description="",
        device_ae_title="CT01",
        received_at=at,
    )
    return Inbound(
        protocol="dicom",
        received_at=at,
        peer="CT01",
        raw=b"",
        outcome=Outcome.APPLIED,
        events=(event,),
        control_id=f"{uid}.1.1",
    )


@pytest.fixture
async def ingest(database_url: str) -> AsyncIterator[Ingest]:
    """A started writer."""
    engine = create_engine(database_url)
    writer = Ingest(engine, timeout=10)
    await writer.start()
    yield writer
    await writer.close()
    await engine.dispose()


async def test_an_old_unmatched_study_is_owed_once(ingest: Ingest) -> None:
    """Past the wait, a study with no order is owed to the webhooks taking unmatched_study,
    once; a newer one is not owed yet."""
    now = datetime.now(UTC)
    await ingest.submit(_image("1.2.3.100", now - timedelta(hours=2)))
    await ingest.submit(_image("1.2.3.200", now))
    look = partial(owe_unmatched_studies, routes=ROUTES, now=now, older_than=timedelta(hours=1))
    assert await ingest.run(look) == 1
    assert await ingest.run(look) == 0
    async with ingest._engine.connect() as conn:
        rows = (await conn.execute(select(outbox))).mappings().all()
    (row,) = rows
    assert (row["destination"], row["event_type"]) == ("hooks", "unmatched_study")
    assert row["sequence_key"] == "study:1.2.3.100"
    data = orjson.loads(row["data"])
    assert data["study_instance_uid"] == "1.2.3.100" and data["accession"] == "NOSUCHORDER"
    assert data["instance_count"] == 1
