"""The floor of the API figures: a trivial aiohttp app with one JSON handler (orjson).

Run as its own process, on the same event loop policy as the gateway (plain asyncio), and
measured with the same load tool and concurrency: whatever the gateway adds (routing,
parsing, the query, the encoding) shows as the ratio to this.

    python -m bench.api_floor --port 8099
"""

from __future__ import annotations

import argparse

import orjson
from aiohttp import web

BODY = {"status": "ok", "items": [{"name": "floor", "count": 1, "p50": 12.5}]}


async def floor(_request: web.Request) -> web.Response:
    """The cheapest JSON answer aiohttp gives."""
    return web.Response(body=orjson.dumps(BODY), content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/floor", floor)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
