"""The dashboard's routes over HTTP: the page and its files, its settings, the commit stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from fixtures.messages import orm_new_order
from gateway.auth import Role, Token, hash_token
from gateway.dashboard.assets import STATIC
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.mllp_client import MllpClient

READER = "dashboard-reader-token"


async def _read(
    gateway: RunningGateway, path: str, token: str | None = None
) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.http_url + path, headers=headers) as r,
    ):
        return r.status, r.content_type, await r.text()


async def test_the_page_and_every_file_it_loads_are_served_without_a_token(tmp_path: Path) -> None:
    """With a tokens file, `/` and each static file answer 200 without a token; data asks one."""
    tokens = {hash_token(READER): Token("dashboard", Role.READER)}
    gateway = await start_gateway(
        gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"), tokens
    )
    try:
        status, kind, page = await _read(gateway, "/")
        assert (status, kind) == (200, "text/html") and 'src="/dashboard/app.js"' in page
        for path in sorted(STATIC.iterdir()):
            if path.name == "index.html":
                continue
            status, kind, text = await _read(gateway, f"/dashboard/{path.name}")
            assert status == 200, path.name
            assert kind == ("text/css" if path.suffix == ".css" else "text/javascript")
            assert text == path.read_text()
        assert (await _read(gateway, "/dashboard/nothing.js"))[0] == 404
        assert (await _read(gateway, "/api/v1/dashboard/config"))[0] == 401
        status, _, _ = await _read(gateway, "/api/v1/dashboard/config", READER)
        assert status == 200
    finally:
        await gateway.runner.cleanup()


async def test_the_settings_name_the_facility_zone_and_goals(tmp_path: Path) -> None:
    """The page's settings carry the facility time zone and the configured flow goals."""
    settings = gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}").model_copy(
        update={"timezone": "Europe/Zurich"}
    )
    gateway = await start_gateway(settings)
    try:
        status, _, text = await _read(gateway, "/api/v1/dashboard/config")
        assert status == 200
        config = json.loads(text)
        assert config["timezone"] == "Europe/Zurich"
        assert config["goals"]["report_turnaround/*/S/emergency"] == 60.0
        assert config["secured"] is False
    finally:
        await gateway.runner.cleanup()


async def _events(response: aiohttp.ClientResponse) -> list[int]:
    """Read one `commit` event's generation from a stream."""
    while True:
        line = (await response.content.readline()).decode()
        if line.startswith("data:"):
            return [int(line.split('"generation":')[1].strip(" }\n"))]


async def test_the_stream_sends_a_commit_event_per_commit_and_ends_on_shutdown(
    tmp_path: Path,
) -> None:
    """An event per commit after the first; stopping the gateway ends the open stream at once."""
    gateway = await start_gateway(gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"))
    stopped = False
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(gateway.http_url + "/api/v1/events") as response,
        ):
            assert response.content_type == "text/event-stream"
            (first,) = await _events(response)
            client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
            await client.send(orm_new_order("SSE1", control_id="SSE1"))
            await client.close()
            (second,) = await _events(response)
            assert second > first
            closing = asyncio.ensure_future(gateway.runner.cleanup())
            stopped = True
            rest = await asyncio.wait_for(response.content.read(), 10)
            assert b"event:" not in rest  # the stream ended, with no event after the last
            await asyncio.wait_for(closing, 10)
    finally:
        if not stopped:
            await gateway.runner.cleanup()


async def test_once_sends_the_current_generation_and_closes(tmp_path: Path) -> None:
    """`once=true` answers one event and ends the response."""
    gateway = await start_gateway(gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"))
    try:
        status, kind, body = await _read(gateway, "/api/v1/events?once=true")
        assert (status, kind) == (200, "text/event-stream")
        assert body.startswith("retry: 2000\nevent: commit\n") and body.endswith("\n\n")
    finally:
        await gateway.runner.cleanup()
