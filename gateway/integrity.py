"""Integrity at the HTTP door and on the app: the findings route, and the PACS reconciler
started with the app when a PACS is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from aiohttp import web

from gateway import paging
from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import ENGINE, INGEST, PACS_RECONCILER, SETTINGS
from gateway.models.integrity import IntegrityPage, IntegrityQuery
from gateway.settings import IntegritySettings
from mappers.events import PacsReconciled
from mappers.integrity import KINDS, Thresholds, page_findings, select_findings
from outbound.pacs import ExpectedStudy, PacsPeer, PacsStudy, find_studies
from outbound.reconciler import PacsReconciler
from store.locks import PACS_LOCK_KEY, LeaderLock
from store.operations import record_pacs_reconciliation
from store.reading.integrity import find_integrity
from store.reading.pacs import expected_studies, known_to_orders

routes = Routes()


def thresholds(settings: IntegritySettings) -> Thresholds:
    """The `[integrity]` settings as the checks take them."""
    return Thresholds(
        images_after=timedelta(minutes=settings.images_after_minutes),
        unordered_study_after=timedelta(minutes=settings.unordered_study_after_minutes),
        open_step_after=timedelta(hours=settings.open_step_hours),
    )


@routes.get(
    "/api/v1/integrity",
    summary="Integrity findings: orders, studies, steps and reports that do not line up, and "
    "what the last PACS reconciliation found; newest first.",
    description="Kinds: " + ", ".join(KINDS) + ". Each finding names its order (accession) "
    "or study (Study Instance UID), links to it, and carries its evidence.",
    query=IntegrityQuery,
    response=IntegrityPage,
    errors=(400,),
)
async def integrity_list(request: web.Request, query: IntegrityQuery) -> web.Response:
    """The findings as of now, filtered by kind, start and modality, paged by cursor."""
    readers = (paging.instant, paging.text, paging.text, paging.text)
    after = paging.read_parts(query.cursor, readers)
    now = datetime.now(UTC)
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].connect() as conn:
        found = await find_integrity(conn, now, thresholds(settings.integrity), since=query.since)
    chosen = select_findings(found, kinds=query.kind, since=query.since, modality=query.modality)
    items, next_key = page_findings(chosen, after, query.limit)  # type: ignore[arg-type]
    return json_response({"items": items, "next_cursor": paging.encode_cursor(next_key)})


async def pacs_reconciliation(app: web.Application) -> AsyncIterator[None]:
    """The PACS reconciler, while `[pacs] host` is set; it stops before the writer closes."""
    settings = app[SETTINGS]
    pacs = settings.pacs
    if pacs.host is None:
        yield
        return
    engine = app[ENGINE]
    peer = PacsPeer(pacs.host, pacs.port, pacs.ae_title)

    async def expected(first: datetime, last: datetime) -> list[ExpectedStudy]:
        async with engine.connect() as conn:
            rows = await expected_studies(conn, first, last)
        return [ExpectedStudy(*row) for row in rows]

    async def known(held: Sequence[PacsStudy]) -> tuple[set[str], set[str]]:
        uids = [s.study_instance_uid for s in held]
        accessions = [s.accession for s in held]
        async with engine.connect() as conn:
            return await known_to_orders(conn, uids, accessions)

    async def record(event: PacsReconciled) -> None:
        await record_pacs_reconciliation(app[INGEST], event)

    lock = LeaderLock(engine, key=PACS_LOCK_KEY)
    reconciler = PacsReconciler(
        find=partial(find_studies, peer, settings.dicom.ae_title),
        expected=expected,
        known=known,
        record=record,
        interval=pacs.interval_minutes * 60.0,
        settle=thresholds(settings.integrity).images_after,
        tz=settings.tz,
        is_leader=lock.held,
    )
    await reconciler.start()
    app[PACS_RECONCILER] = reconciler
    yield
    await reconciler.close()
    await lock.release()
