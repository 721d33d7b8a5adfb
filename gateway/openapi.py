"""/openapi.json, generated from the route registry, and a page that renders it."""

from __future__ import annotations

import html

from aiohttp import web

from gateway.contract.document import document
from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import ROUTES, SECURED

routes = Routes()


@routes.get(
    "/openapi.json",
    summary="This document: every route, its parameters with their limits, and its answers.",
    response={"type": "object", "required": ["openapi", "paths"]},
)
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of every route served."""
    return json_response(document(request.app[ROUTES], secured=request.app[SECURED]))


@routes.get(
    "/api/docs",
    summary="A self-contained page that renders this document.",
    response={"type": "string"},
    content_type="text/html",
)
async def docs_page(request: web.Request) -> web.Response:
    """A self-contained page that renders the OpenAPI document (no scripts, no CDN)."""
    spec = document(request.app[ROUTES], secured=request.app[SECURED])
    rows = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code> ({p['in']}) "
                f"{html.escape(p.get('description', ''))}</li>"
                for p in op["parameters"]
            )
            codes = ", ".join(op["responses"])
            rows.append(
                f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(op['summary'])}</p><ul>{params}</ul>"
                f"<p>Responses: {codes}</p></section>"
            )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>imaging-gateway API</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "line-height:1.4}code{background:#f3f3f3;padding:0 .2rem}section{border-top:1px solid "
        "#ddd;padding:.5rem 0}</style></head><body>"
        f"<h1>{html.escape(spec['info']['title'])}</h1>"
        f"<p>{html.escape(spec['info']['description'])} "
        "The machine-readable description is <a href='/openapi.json'>/openapi.json</a>.</p>"
        + "".join(rows)
        + "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")
