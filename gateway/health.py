"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

from aiohttp import web

from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import DICOM_LISTENER, ENGINE, INGEST, METRICS, MLLP_SERVER, SETTINGS
from store.outbox import backlogs
from store.queries import ping
from store.retention import store_bytes

log = logging.getLogger(__name__)

routes = Routes()

_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
_READINESS = {
    **_STATUS,
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
}

READINESS_TIMEOUT = 2.0  # seconds; a probe must answer quickly even when the store hangs


@routes.get("/healthz", summary="The process is up and its event loop answers.", response=_STATUS)
async def healthz(_request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return json_response({"status": "ok"})


@routes.get(
    "/metrics",
    summary="Prometheus metrics: messages, ACK latency, DICOM, HTTP, outbox backlog.",
    response={"type": "string"},
    content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics: messages by type and outcome, ACK latency, DICOM, HTTP, and the
    store's size (read at each scrape)."""
    metrics = request.app[METRICS]
    try:
        async with asyncio.timeout(READINESS_TIMEOUT), request.app[ENGINE].connect() as conn:
            metrics.store_bytes.set(await conn.run_sync(store_bytes))
            outbound = request.app[SETTINGS].outbound
            names = [d.name for d in (*outbound.hl7, *outbound.webhooks)]
            metrics.observe_outbox(names, await backlogs(conn), datetime.now(UTC))
    except Exception as exc:  # the other figures are still worth scraping
        log.warning("metrics: store size unknown (%s)", type(exc).__name__)
    return metrics.exposition()


@routes.get(
    "/readyz",
    summary="Ready when the store answers and every listener is bound (503 otherwise).",
    response=_READINESS,
    errors=(503,),
)
async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers, takes a write, and every listener is bound; else 503
    with the reason of each failed check."""
    app = request.app
    reasons: dict[str, str] = {}
    checks = {
        "store": await _passes(_read_store(app), "store", reasons),
        "writes": await _passes(app[INGEST].touch(), "writes", reasons),
        "mllp": app[MLLP_SERVER].is_serving(),
        "dicom": app[DICOM_LISTENER].is_serving(),
    }
    for listener in ("mllp", "dicom"):
        if not checks[listener]:
            reasons[listener] = "not listening"
    ready = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    if reasons:
        body["reasons"] = reasons
    return json_response(body, status=200 if ready else 503)


async def _read_store(app: web.Application) -> None:
    async with app[ENGINE].connect() as conn:
        await ping(conn)


async def _passes(check: Awaitable[None], name: str, reasons: dict[str, str]) -> bool:
    """Run one check within the readiness timeout; note why it failed, if it did."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT):
            await check
    except TimeoutError:
        reasons[name] = f"no answer within {READINESS_TIMEOUT:g} s"
    except Exception as exc:  # any failure means not ready; the reason is the database's
        reasons[name] = _reason(exc)
    else:
        return True
    log.warning("readiness: %s check failed (%s)", name, reasons[name])
    return False


def _reason(error: Exception) -> str:
    """The database's own first line (these checks carry no patient data), shortened."""
    cause = getattr(error, "orig", None) or error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:200]
