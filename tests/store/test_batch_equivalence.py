"""On both stores: any cut of a message sequence into batches gives the rows that applying
the messages one at a time gives (load, fold and flush agree with the pure fold)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import create_engine
from store.inbound import Inbound
from store.schema import (
    devices,
    instances,
    messages,
    order_timeline,
    orders,
    patient_arrivals,
    patients,
    procedure_steps,
    reports,
    series,
    studies,
)
from store.write import write_batch
from tests.store.fold.scenario import T0
from tests.store.fold.scenario import messages as scenario
from tests.support.applied import applied_message

COUNT = len(scenario())


def _inbound(ns: str, number: int, events: tuple) -> Inbound:
    return applied_message(events, received_at=T0, control_id=f"{ns}-{number}")


async def _apply(engine: AsyncEngine, ns: str, batches: list[list[int]]) -> None:
    sent = scenario(ns)
    for batch in batches:
        inbounds = [_inbound(ns, n, sent[n]) for n in batch]
        async with engine.begin() as conn:
            await conn.run_sync(write_batch, inbounds, T0)


async def _dump(engine: AsyncEngine, ns: str) -> dict[str, Any]:
    """Every row the namespace made, ids replaced by natural keys, the namespace removed."""
    like = f"%{ns}%"
    queries = {
        "patients": select(patients).where(patients.c.identifier.like(like)),
        "orders": select(orders, patients.c.identifier.label("patient"))
        .outerjoin(patients, patients.c.id == orders.c.patient_id)
        .where(orders.c.accession.like(like)),
        "timeline": select(order_timeline, orders.c.accession, messages.c.control_id)
        .join(orders, orders.c.id == order_timeline.c.order_id)
        .outerjoin(messages, messages.c.id == order_timeline.c.message_id)
        .where(orders.c.accession.like(like)),
        "reports": select(reports, orders.c.accession)
        .join(orders, orders.c.id == reports.c.order_id)
        .where(orders.c.accession.like(like)),
        "arrivals": select(patient_arrivals, patients.c.identifier)
        .join(patients, patients.c.id == patient_arrivals.c.patient_id)
        .where(patients.c.identifier.like(like)),
        "devices": select(devices).where(devices.c.ae_title.like(like)),
        "studies": select(studies, orders.c.accession.label("order"))
        .outerjoin(orders, orders.c.id == studies.c.order_id)
        .where(studies.c.study_instance_uid.like(like)),
        "series": select(series).where(series.c.series_instance_uid.like(like)),
        "instances": select(instances).where(instances.c.sop_instance_uid.like(like)),
        "steps": select(procedure_steps, orders.c.accession.label("order"))
        .outerjoin(orders, orders.c.id == procedure_steps.c.order_id)
        .where(procedure_steps.c.sop_instance_uid.like(like)),
        "messages": select(messages.c.control_id, messages.c.outcome).where(
            messages.c.control_id.like(like)
        ),
    }
    dumped = {}
    async with engine.connect() as conn:
        for name, query in queries.items():
            rows = (await conn.execute(query)).mappings()
            dumped[name] = sorted(repr(_plain(dict(row), ns)) for row in rows)
    return dumped


def _plain(row: dict[str, Any], ns: str) -> dict[str, Any]:
    ids = {"id", "patient_id", "merged_into_id", "order_id", "message_id", "study_id"}
    ids |= {"series_id", "device_id"}
    return {
        key: value.replace(ns, "") if isinstance(value, str) else value
        for key, value in row.items()
        if key not in ids
    }


def _cut(order: list[int], cuts: list[int]) -> list[list[int]]:
    bounds = sorted({c % (len(order) + 1) for c in cuts} | {0, len(order)})
    return [order[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(COUNT)),
    cuts=st.lists(st.integers(min_value=0, max_value=COUNT), max_size=6),
)
def test_batches_store_what_one_at_a_time_stores(
    database_url: str, order: list[int], cuts: list[int]
) -> None:
    """Any interleaving, cut into any batches, leaves the rows it leaves message by message."""

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            tag = uuid.uuid4().hex[:8]
            one, cut = f"s{tag}", f"b{tag}"
            await _apply(engine, one, [[n] for n in order])
            await _apply(engine, cut, _cut(order, cuts))
            return await _dump(engine, one), await _dump(engine, cut)
        finally:
            await engine.dispose()

    one_by_one, batched = asyncio.run(run())
    assert batched == one_by_one
    assert len(one_by_one["orders"]) == 3
