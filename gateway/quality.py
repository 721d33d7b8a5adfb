"""The quality desk at the HTTP door: data quality per sender, and dose against reference
levels. Both read; the dose list names exams, so the audit trail records it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import ENGINE, SETTINGS
from gateway.models.quality import DoseQuery, DoseReport, SenderScorecard, SendersQuery
from gateway.settings import Settings
from store.reading.dose import ReferenceLevel, read_dose
from store.reading.senders import FIELDS, read_sender_quality

routes = Routes()

# The window when `since` is not given: a week of messages, a quarter of exams.
SENDERS_DAYS = 7
DOSE_DAYS = 90


def _window(since: datetime | None, until: datetime | None, days: int) -> tuple[datetime, datetime]:
    end = until or datetime.now(UTC)
    return since or end - timedelta(days=days), end


def reference_levels(settings: Settings) -> Mapping[str, ReferenceLevel]:
    """The `[dose.drl]` table as the dose reader takes it."""
    return {
        key: ReferenceLevel(level.ctdivol, level.dlp) for key, level in settings.dose.drl.items()
    }


@routes.get(
    "/api/v1/quality/senders",
    summary="Data quality per sender: messages by type, refused and failed by reason and "
    "field, recommended fields missing, lateness (p50, p90), resends and reused control ids.",
    query=SendersQuery,
    response=SenderScorecard,
    errors=(400,),
)
async def sender_scorecard(request: web.Request, query: SendersQuery) -> web.Response:
    """Each sender's scorecard over the window of first arrivals."""
    since, until = _window(query.since, query.until, SENDERS_DAYS)
    async with request.app[ENGINE].connect() as conn:
        items = await read_sender_quality(conn, since=since, until=until)
    return json_response({"fields": list(FIELDS), "items": items})


@routes.get(
    "/api/v1/dose",
    summary="CTDIvol and DLP p50 and p75 per protocol or device against the diagnostic "
    "reference levels ([dose.drl]), and the exams above their level.",
    query=DoseQuery,
    response=DoseReport,
    errors=(400,),
)
async def dose(request: web.Request, query: DoseQuery) -> web.Response:
    """Dose per protocol or device, from CT dose reports and MPPS."""
    since, until = _window(query.since, query.until, DOSE_DAYS)
    async with request.app[ENGINE].connect() as conn:
        summary = await read_dose(
            conn,
            group_by=query.group_by,
            since=since,
            until=until,
            references=reference_levels(request.app[SETTINGS]),
        )
    return json_response(summary)
