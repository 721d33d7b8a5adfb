"""`GET /api/v1/events`: server-sent events, one per commit of the writer, for live views.

An event carries only the generation; the page reads the board again. A comment line is sent
as a heartbeat when nothing was committed for a while, so proxies keep the stream and a closed
client is noticed on the next write.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from gateway.contract.registry import Routes
from gateway.keys import INGEST, LIVE_STREAMS
from gateway.models.dashboard import EventsQuery

routes = Routes()
HEARTBEAT_SECONDS = 15.0
# The browser waits this long before reconnecting after the stream ends.
RETRY_MS = 2000


@routes.get(
    "/api/v1/events",
    summary="Server-sent events: `commit` with the writer's generation after each commit.",
    description="The first event is sent at once with the current generation; then one per "
    f"new generation, and a comment every {HEARTBEAT_SECONDS:.0f} s when idle. `once=true` "
    "sends the first event and closes.",
    query=EventsQuery,
    response={"type": "string"},
    content_type="text/event-stream",
    errors=(400,),
)
async def events_stream(request: web.Request, query: EventsQuery) -> web.StreamResponse:
    """Stream the writer's commits as server-sent events until the client or gateway leaves."""
    feed = request.app[INGEST].commits
    live = request.app[LIVE_STREAMS]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # reverse proxies: pass each event on at once
        }
    )
    await response.prepare(request)
    seen = feed.generation
    try:
        await response.write(f"retry: {RETRY_MS}\n".encode() + _event(seen))
        if query.once:
            return response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + query.seconds
        while (left := deadline - loop.time()) > 0:
            generation = await live.next_generation(feed, seen, min(HEARTBEAT_SECONDS, left))
            if generation is None:
                break
            if generation > seen:
                seen = generation
                await response.write(_event(seen))
            else:
                await response.write(b": heartbeat\n\n")
    except ConnectionResetError:
        pass  # the client went away; nothing is left to answer
    return response


def _event(generation: int) -> bytes:
    data = orjson.dumps({"generation": generation})
    return b"event: commit\nid: " + str(generation).encode() + b"\ndata: " + data + b"\n\n"
