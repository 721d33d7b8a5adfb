"""The dashboard's routes: the page at `/`, its assets, and the settings the page displays by."""

from __future__ import annotations

from aiohttp import web

from gateway.contract.registry import Routes
from gateway.jsonio import json_response
from gateway.keys import DASHBOARD_ASSETS, SECURED, SETTINGS
from gateway.models.dashboard import DashboardConfig, ModulePath
from gateway.problems import NotFound

routes = Routes()
# The page holds no data; browsers may keep it briefly, but pick up a new release soon.
_CACHE = "no-cache"


@routes.get(
    "/",
    summary="The dashboard page (HTML; it holds no data and asks the API with its own token).",
    response={"type": "string"},
    content_type="text/html",
)
async def dashboard_page(request: web.Request) -> web.Response:
    """The dashboard's single page."""
    return _asset(request, "index.html")


# Declared before the modules' pattern so that aiohttp matches this fixed path first.
@routes.get(
    "/dashboard/style.css",
    summary="The dashboard's style sheet (screen and print).",
    response={"type": "string"},
    content_type="text/css",
)
async def dashboard_style(request: web.Request) -> web.Response:
    """The page's style sheet."""
    return _asset(request, "style.css")


@routes.get(
    "/dashboard/{module}",
    summary="One of the dashboard page's ES modules.",
    path_params=ModulePath,
    response={"type": "string"},
    content_type="text/javascript",
    errors=(400, 404),
)
async def dashboard_module(request: web.Request, path: ModulePath) -> web.Response:
    """One of the page's scripts."""
    return _asset(request, path.module)


@routes.get(
    "/api/v1/dashboard/config",
    summary="What the dashboard displays by: the facility time zone and the flow goals.",
    response=DashboardConfig,
)
async def dashboard_config(request: web.Request) -> web.Response:
    """The facility time zone, the flow goals in minutes, and whether tokens guard the API."""
    settings = request.app[SETTINGS]
    return json_response(
        {
            "timezone": settings.tz.key,
            "goals": dict(settings.flow.goals),
            "secured": request.app[SECURED],
        }
    )


def _asset(request: web.Request, name: str) -> web.Response:
    asset = request.app[DASHBOARD_ASSETS].get(name)
    if asset is None:
        raise NotFound(f"module: no dashboard file {name!r}")
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8",
        headers={"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"},
    )
