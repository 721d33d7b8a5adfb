"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import DICOM_LISTENER, ENGINE, METRICS, MLLP_SERVER
from store.queries import ping

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
    summary="Prometheus metrics: messages, ACK latency, DICOM, HTTP.",
    response={"type": "string"},
    content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics: messages by type and outcome, ACK latency, DICOM, HTTP."""
    return request.app[METRICS].exposition()


@routes.get(
    "/readyz",
    summary="Ready when the store answers and every listener is bound (503 otherwise).",
    response=_READINESS,
    errors=(503,),
)
async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers and every listener is bound."""
    checks = {
        "store": await _store_reachable(request.app),
        "mllp": request.app[MLLP_SERVER].is_serving(),
        "dicom": request.app[DICOM_LISTENER].is_serving(),
    }
    ready = all(checks.values())
    return json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def _store_reachable(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT), app[ENGINE].connect() as conn:
            await ping(conn)
    except Exception as exc:  # any failure means not ready; the reason goes to the log
        log.warning("readiness: store unreachable (%s)", type(exc).__name__)
        return False
    return True
