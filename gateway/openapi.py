"""The OpenAPI 3.1 description of /api/v1, and a page that renders it.

Response schemas are generated from the very dataclasses the handlers serialize, so the
description cannot drift from the responses; a test checks that every /api/v1 route is
described and nothing else, and schemathesis checks the responses against it.
"""

from __future__ import annotations

import dataclasses
import html
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from aiohttp import web

from gateway.equipment import UptimeReport
from gateway.jsonio import json_response
from gateway.paging import DEFAULT_LIMIT, MAX_LIMIT
from mappers.events import Milestone
from store.equipment import DeviceView, DowntimeView
from store.figures import FIGURES
from store.flow import (
    BOARD_STATES,
    UNMATCHED_KINDS,
    VOLUME_GROUPS,
    BoardItem,
    FigureRow,
    UnmatchedItem,
    VolumeRow,
)
from store.flow import GROUPS as FLOW_GROUPS
from store.ingest import Outcome
from store.queries import MessageView, OrderSummary, OrderView

routes = web.RouteTableDef()

MILESTONES = [m.value for m in Milestone]
OUTCOMES = [o.value for o in Outcome]


# An empty value is refused like any malformed one: parameters are omitted, not left empty.
TEXT: Mapping[str, Any] = {"type": "string", "minLength": 1}


def _names(names: Sequence[str]) -> dict[str, Any]:
    """A comma-separated list of these names."""
    one = "(" + "|".join(names) + ")"
    return {"type": "string", "pattern": f"^{one}(,{one})*$"}


@dataclass(frozen=True)
class Param:
    """A query parameter of a route."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: dict(TEXT))
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One method on one path: what it takes and what it answers."""

    method: str
    path: str
    summary: str
    response: Mapping[str, Any]
    params: Sequence[Param] = ()
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    errors: Sequence[int] = (400, 401, 403)
    body: Mapping[str, Any] | None = None
    success: int = 200


def _page_of(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


_MOMENT = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
}
_RANGE = [
    Param(
        "from",
        "Start, inclusive: an RFC 3339 date-time with offset, or a date (UTC midnight).",
        _MOMENT,
    ),
    Param(
        "to",
        "End, exclusive: an RFC 3339 date-time with offset, or a date (UTC midnight).",
        _MOMENT,
    ),
]
_PAGING = [
    Param(
        "limit",
        f"Items per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    Param("cursor", "The next_cursor of the previous page."),
]

# The routes of /api/v1, as the handlers in gateway/api.py (and the flow routes) serve them.
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/v1/orders",
        "Orders, newest first, filtered and paged.",
        _page_of({"$ref": "#/components/schemas/OrderSummary"}),
        [
            Param(
                "status",
                "Milestone names, comma-separated: " + ", ".join(MILESTONES),
                _names(MILESTONES),
            ),
            Param("modality", "DICOM modality code, e.g. CT."),
            Param("patient", "Patient identifier, or authority|identifier."),
            Param("accession", "Accession number."),
            *_RANGE,
            *_PAGING,
        ],
    ),
    Operation(
        "get",
        "/api/v1/orders/{accession}",
        "An order with its patient, appointment, milestones, timeline and reports.",
        {"$ref": "#/components/schemas/OrderView"},
        path_params={"accession": {"type": "string"}},
        errors=(401, 404),
    ),
    Operation(
        "get",
        "/api/v1/messages",
        "The message log, newest first (without message content).",
        _page_of({"$ref": "#/components/schemas/MessageView"}),
        [
            Param("outcome", "Outcomes, comma-separated: " + ", ".join(OUTCOMES), _names(OUTCOMES)),
            Param(
                "type",
                "A message type (ORM^O01) or family (ORM).",
                {"type": "string", "pattern": r"^[A-Z0-9]{3}(\^[A-Z0-9]{3})?$"},
            ),
            Param("control_id", "MSH-10 (HL7) or the DICOM operation's key."),
            *_RANGE,
            *_PAGING,
        ],
    ),
    Operation(
        "get",
        "/api/v1/messages/{id}",
        "One kept message, with its content as text.",
        {
            "allOf": [
                {"$ref": "#/components/schemas/MessageView"},
                {"type": "object", "required": ["raw"], "properties": {"raw": {"type": "string"}}},
            ]
        },
        path_params={"id": {"type": "integer", "minimum": 0}},
        errors=(401, 404),
    ),
    Operation(
        "post",
        "/api/v1/messages/{id}/replay",
        "Process a kept HL7 message that was not applied again, through the intake path.",
        {
            "type": "object",
            "required": ["message_id", "outcome", "ack_code"],
            "properties": {
                "message_id": {"type": "integer"},
                "outcome": {"type": ["string", "null"], "enum": [*OUTCOMES, None]},
                "ack_code": {"type": ["string", "null"]},
            },
        },
        path_params={"id": {"type": "integer", "minimum": 0}},
        errors=(401, 403, 404, 409),
    ),
)

_AE = {"ae_title": {"type": "string", "minLength": 1, "maxLength": 16}}
_WINDOW = [
    Param("from", "Window start (default: 7 days before `to`).", _MOMENT),
    Param("to", "Window end (default: now); a window is at most 366 days.", _MOMENT),
]
_REGISTRATION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "host": {"type": "string", "maxLength": 255},
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "modality": {"type": "string", "maxLength": 16},
        "name": {"type": "string", "maxLength": 128},
        "location": {"type": "string", "maxLength": 128},
        "monitored": {"type": "boolean", "description": "Probed with C-ECHO; needs host and port."},
    },
}
_DOWNTIME = {
    "type": "object",
    "additionalProperties": False,
    "required": ["start", "planned"],
    "properties": {
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": ["string", "null"], "format": "date-time"},
        "planned": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 255},
        "ticket": {"type": "string", "maxLength": 64},
    },
}

EQUIPMENT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/v1/devices",
        "Every device, registered or learned, with its state.",
        {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceView"}}
            },
        },
        errors=(400, 401),
    ),
    Operation(
        "get",
        "/api/v1/devices/{ae_title}",
        "One device.",
        {"$ref": "#/components/schemas/DeviceView"},
        path_params=_AE,
        errors=(401, 404),
    ),
    Operation(
        "put",
        "/api/v1/devices/{ae_title}",
        "Register a device or change it (operator).",
        {"$ref": "#/components/schemas/DeviceView"},
        path_params=_AE,
        errors=(400, 401, 403),
        body=_REGISTRATION,
    ),
    Operation(
        "post",
        "/api/v1/devices/{ae_title}/downtime",
        "Declare planned or unplanned downtime (operator).",
        {"$ref": "#/components/schemas/DowntimeView"},
        path_params=_AE,
        errors=(400, 401, 403, 404),
        body=_DOWNTIME,
        success=201,
    ),
    Operation(
        "get",
        "/api/v1/devices/{ae_title}/downtime",
        "A device's declared downtime.",
        {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/DowntimeView"}}
            },
        },
        path_params=_AE,
        errors=(400, 401, 404),
    ),
    Operation(
        "patch",
        "/api/v1/devices/{ae_title}/downtime/{id}",
        "End a declared downtime (operator).",
        {"$ref": "#/components/schemas/DowntimeView"},
        path_params={**_AE, "id": {"type": "integer", "minimum": 0}},
        errors=(400, 401, 403, 404),
        body={
            "type": "object",
            "additionalProperties": False,
            "required": ["end"],
            "properties": {"end": {"type": "string", "format": "date-time"}},
        },
    ),
    Operation(
        "get",
        "/api/v1/devices/{ae_title}/uptime",
        "Availability, downtime, failures, MTBF/MTTR and utilization over a window.",
        {"$ref": "#/components/schemas/UptimeReport"},
        _WINDOW,
        path_params=_AE,
        errors=(400, 401, 404),
    ),
    Operation(
        "get",
        "/api/v1/equipment/uptime",
        "The fleet's figures per modality or location, with daily series.",
        {
            "type": "object",
            "required": ["group_by", "groups", "fleet"],
            "properties": {
                "group_by": {"type": "string", "enum": ["modality", "location"]},
                "groups": {"type": "array", "items": {"$ref": "#/components/schemas/UptimeReport"}},
                "fleet": {"$ref": "#/components/schemas/UptimeReport"},
            },
        },
        [
            *_WINDOW,
            Param(
                "group_by",
                "modality (default) or location.",
                {"type": "string", "enum": ["modality", "location"]},
            ),
        ],
        errors=(400, 401),
    ),
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _keyed_page(item: str, **extra: Mapping[str, Any]) -> dict[str, Any]:
    """A page of `item` with the query's echo fields."""
    page = _page_of(_ref(item))
    page["properties"] = {**extra, **page["properties"]}
    page["required"] = [*extra, *page["required"]]
    return page


_FIGURES = list(FIGURES)
_ECHO_WINDOW = {
    "from": {"type": "string", "format": "date-time"},
    "to": {"type": "string", "format": "date-time"},
}
_OPTIONAL_GROUP = {"type": ["string", "null"]}

FLOW_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/v1/flow/board",
        "The department now: open orders by state, with counts by modality and device.",
        {
            "type": "object",
            "required": [
                "now",
                "day",
                "counts",
                "by_modality",
                "by_device",
                "items",
                "next_cursor",
            ],
            "properties": {
                "now": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "by_modality": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                },
                "by_device": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                },
                "items": {"type": "array", "items": _ref("BoardItem")},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        [
            Param("modality", "DICOM modality code."),
            Param("device", "Device AE title."),
            Param(
                "state",
                "Board states, comma-separated: " + ", ".join(BOARD_STATES),
                _names(BOARD_STATES),
            ),
            *_PAGING,
        ],
        errors=(400, 401),
    ),
    Operation(
        "get",
        "/api/v1/flow/turnaround",
        "Count, p50, p90, p95 and share within goal of each figure, by group; a figure counts "
        "when its end time is in [from, to) (default: the last 7 days).",
        _keyed_page(
            "FigureRow", **_ECHO_WINDOW, window={"type": "string"}, group_by=_OPTIONAL_GROUP
        ),
        [
            *_RANGE,
            Param(
                "group_by",
                "modality, priority, patient_class, device or day.",
                {"type": "string", "enum": list(FLOW_GROUPS)},
            ),
            Param(
                "figure",
                "Figures, comma-separated (default all): " + ", ".join(_FIGURES),
                _names(_FIGURES),
            ),
            *_PAGING,
        ],
        errors=(400, 401),
    ),
    Operation(
        "get",
        "/api/v1/flow/volumes",
        "Exams ordered, performed, reported, cancelled and not shown per local bucket.",
        _keyed_page(
            "VolumeRow", **_ECHO_WINDOW, interval={"type": "string"}, group_by=_OPTIONAL_GROUP
        ),
        [
            *_RANGE,
            Param(
                "interval",
                "hour, day (default) or week.",
                {"type": "string", "enum": ["hour", "day", "week"]},
            ),
            Param(
                "group_by", "modality or device.", {"type": "string", "enum": list(VOLUME_GROUPS)}
            ),
            *_PAGING,
        ],
        errors=(400, 401),
    ),
    Operation(
        "get",
        "/api/v1/unmatched",
        "Studies and procedure steps that match no order, and placeholder orders.",
        _page_of(_ref("UnmatchedItem")),
        [
            Param(
                "kind",
                "Kinds, comma-separated: " + ", ".join(UNMATCHED_KINDS),
                _names(UNMATCHED_KINDS),
            ),
            *_PAGING,
        ],
        errors=(400, 401),
    ),
    Operation(
        "post",
        "/api/v1/unmatched/{kind}/{id}/link",
        "Link an unmatched study or procedure step to an order by accession (operator).",
        {
            "type": "object",
            "required": ["kind", "id", "accession", "linked"],
            "properties": {
                "kind": {"type": "string"},
                "id": {"type": "integer"},
                "accession": {"type": "string"},
                "linked": {"type": "boolean"},
            },
        },
        path_params={
            "kind": {"type": "string", "enum": ["study", "procedure_step"]},
            "id": {"type": "integer", "minimum": 0},
        },
        errors=(400, 401, 403, 404, 409),
        body={
            "type": "object",
            "required": ["accession"],
            "additionalProperties": False,
            "properties": {"accession": {"type": "string", "minLength": 1}},
        },
    ),
)

COMPONENTS = (
    OrderSummary,
    OrderView,
    MessageView,
    DeviceView,
    DowntimeView,
    UptimeReport,
    BoardItem,
    FigureRow,
    VolumeRow,
    UnmatchedItem,
)


def schema_of(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a value of `kind` as orjson writes it; dataclasses become
    components (referenced by name)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = (
            schema_of(inner[0], components)
            if len(inner) == 1
            else {"anyOf": [schema_of(a, components) for a in inner]}
        )
        return {"anyOf": [schema, {"type": "null"}]} if type(None) in args else schema
    if dataclasses.is_dataclass(kind):
        name = kind.__name__
        if name not in components:
            components[name] = {}  # placeholder against recursion
            hints = typing.get_type_hints(kind)
            fields = dataclasses.fields(kind)
            components[name] = {
                "type": "object",
                "required": [f.name for f in fields],
                "properties": {f.name: schema_of(hints[f.name], components) for f in fields},
            }
        return {"$ref": f"#/components/schemas/{name}"}
    if origin in (tuple, list, Sequence):
        return {"type": "array", "items": schema_of(args[0], components)}
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": schema_of(args[1], components)}
    if isinstance(kind, type) and issubclass(kind, Enum):
        return {"type": "string", "enum": [m.value for m in kind]}
    simple = {
        str: {"type": "string"},
        int: {"type": "integer"},
        float: {"type": "number"},
        bool: {"type": "boolean"},
        datetime: {"type": "string", "format": "date-time"},
        date: {"type": "string", "format": "date"},
        Any: {},
    }
    if kind in simple:
        return simple[kind]
    raise TypeError(f"no schema for {kind!r}")


_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
_ERROR_TEXT = {
    400: "A parameter the API cannot take.",
    401: "No token, or an unknown one.",
    403: "The token's role does not allow it.",
    404: "No such resource.",
    409: "The resource's state does not allow it.",
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1."""
    components: dict[str, Any] = {"Problem": _PROBLEM}
    for kind in COMPONENTS:
        schema_of(kind, components)
    paths: dict[str, Any] = {}
    for op in (*OPERATIONS, *FLOW_OPERATIONS, *EQUIPMENT_OPERATIONS):
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in op.path_params.items()
        ] + [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": dict(p.schema),
            }
            for p in op.params
        ]
        responses: dict[str, Any] = {
            str(op.success): {
                "description": op.summary,
                "content": {"application/json": {"schema": dict(op.response)}},
            }
        }
        for status in op.errors:
            responses[str(status)] = {
                "description": _ERROR_TEXT[status],
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
        }
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.body}},
            }
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imaging-gateway API",
            "version": "1",
            "description": "Orders, messages, patient flow and equipment of the imaging "
            "department. FHIR R4 is served separately under /fhir.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@routes.get("/openapi.json")
async def openapi_json(_request: web.Request) -> web.Response:
    """The OpenAPI document of /api/v1."""
    return json_response(document())


@routes.get("/api/docs")
async def docs_page(_request: web.Request) -> web.Response:
    """A self-contained page that renders the OpenAPI document (no scripts, no CDN)."""
    spec = document()
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
