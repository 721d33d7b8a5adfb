"""Run the service until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Mapping

from aiohttp import web

from gateway.app import REQUEST_LIMITS, create_app
from gateway.auth import Token
from gateway.config import Settings, describe
from gateway.http_log import server_log
from gateway.keys import SETTINGS, TLS_CONTEXT
from mappers.events import DeviceRegistration

log = logging.getLogger(__name__)


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner that serves `app`: no access log, malformed requests logged quietly."""
    return web.AppRunner(
        app, handle_signals=False, access_log=None, logger=server_log(), **REQUEST_LIMITS
    )


def http_site(runner: web.AppRunner) -> web.TCPSite:
    """The HTTP (or, with `[http] tls`, HTTPS) site of a runner that is set up."""
    app = runner.app
    http = app[SETTINGS].http
    context = app.get(TLS_CONTEXT) if http.tls else None
    return web.TCPSite(
        runner, http.host, http.port, backlog=http.listen_backlog, ssl_context=context
    )


async def serve(
    settings: Settings,
    tokens: Mapping[str, Token] | None = None,
    devices: Mapping[str, DeviceRegistration] | None = None,
) -> None:
    """Start every listener, wait for a stop signal, then stop accepting, finish the messages
    in flight and close the store."""
    runner = make_runner(create_app(settings, tokens, devices))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        log.info("starting: %s", describe(settings))
        await runner.setup()
        await http_site(runner).start()
        host, port = runner.addresses[0][:2]  # port 0 binds a free one: say which
        scheme = "https" if settings.http.tls else "http"
        log.info("HTTP listening on %s://%s:%d", scheme, host, port)
        # Start-up objects (modules, models, schemas) live as long as the process: moved out
        # of the collector's generations, a full collection no longer rescans them, which
        # keeps its pauses, and so the ACK tail, short.
        gc.collect()
        gc.freeze()
        log.info("ready")
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        log.info("stopped")
