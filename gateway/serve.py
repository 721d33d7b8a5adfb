"""Run the service until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping

from aiohttp import web

from gateway.app import create_app
from gateway.auth import Token
from gateway.config import Settings, describe
from gateway.http_log import server_log
from store.equipment import DeviceRegistration

log = logging.getLogger(__name__)


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner that serves `app`: no access log, malformed requests logged quietly."""
    return web.AppRunner(app, handle_signals=False, access_log=None, logger=server_log())


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
        site = web.TCPSite(
            runner, settings.http.host, settings.http.port, backlog=settings.http.listen_backlog
        )
        await site.start()
        host, port = runner.addresses[0][:2]  # port 0 binds a free one: say which
        log.info("HTTP listening on http://%s:%d", host, port)
        log.info("ready")
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        log.info("stopped")
