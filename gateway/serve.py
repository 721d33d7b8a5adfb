"""Run the service until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping

from aiohttp import web

from gateway.app import REQUEST_LIMITS, create_app
from gateway.auth import Token
from gateway.config import Settings, describe
from store.equipment import DeviceRegistration

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    tokens: Mapping[str, Token] | None = None,
    devices: Mapping[str, DeviceRegistration] | None = None,
) -> None:
    """Start every listener, wait for a stop signal, then stop accepting, finish the messages
    in flight and close the store."""
    runner = web.AppRunner(
        create_app(settings, tokens, devices),
        handle_signals=False,
        access_log=None,
        **REQUEST_LIMITS,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        log.info("starting: %s", describe(settings))
        await runner.setup()
        site = web.TCPSite(
            runner,
            settings.http.host,
            settings.http.port,
            backlog=settings.http.listen_backlog,
        )
        await site.start()
        log.info("HTTP listening on http://%s:%d", settings.http.host, settings.http.port)
        log.info("ready")
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        log.info("stopped")
