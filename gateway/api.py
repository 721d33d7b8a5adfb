"""The `/api/v1` JSON routes."""

from __future__ import annotations

from aiohttp import web

from gateway.jsonio import json_response
from gateway.keys import ENGINE
from gateway.problems import NotFound
from store.queries import get_order

routes = web.RouteTableDef()


@routes.get("/api/v1/orders/{accession}")
async def order_detail(request: web.Request) -> web.Response:
    """An order by accession number, with its patient, milestones and timeline."""
    accession = request.match_info["accession"]
    async with request.app[ENGINE].connect() as conn:
        order = await get_order(conn, accession)
    if order is None:
        raise NotFound(f"no order with accession number {accession!r}")
    return json_response(order)
