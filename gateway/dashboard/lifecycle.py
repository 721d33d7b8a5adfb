"""The dashboard's resources on the app: its files read at start-up, its streams' stop signal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.dashboard.assets import read_assets
from gateway.dashboard.live import LiveStreams
from gateway.keys import DASHBOARD_ASSETS, INGEST, LIVE_STREAMS


async def load_assets(app: web.Application) -> AsyncIterator[None]:
    """Read the page's files off the event loop at start-up; nothing to close."""
    app[DASHBOARD_ASSETS] = await asyncio.to_thread(read_assets)
    yield


async def live_streams(app: web.Application) -> AsyncIterator[None]:
    """Make the streams' stop signal; the writer, whose commits they follow, starts first."""
    assert INGEST in app
    app[LIVE_STREAMS] = LiveStreams()
    yield


async def stop_streams(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for open requests: end every stream now."""
    if LIVE_STREAMS in app:
        app[LIVE_STREAMS].closing.set()
