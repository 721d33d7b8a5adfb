"""The OpenAPI 3.1 document, generated from the route registry and its models.

Security is stated as served: without a tokens file no route asks for a token; with one, every
route but the open ones asks for a bearer token and documents 401, and routes that change
something document 403 for a reader's token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter

from gateway.auth import READ_METHODS, is_open
from gateway.contract.registry import Route
from gateway.problems import FHIR_JSON, PROBLEM_JSON

_REF = "#/components/schemas/{model}"
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "Starts with the name of what was refused."},
        "instance": {"type": "string"},
    },
}
_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}
_ERRORS = {
    400: "A parameter or body the API cannot take; the detail names it.",
    401: "No bearer token, or an unknown one.",
    403: "The token's role (reader) does not allow it; operator needed.",
    404: "No such resource.",
    409: "The resource's state does not allow it.",
    503: "Not ready.",
}
# Stateful testing and clients follow these: a registered device can be read, given downtime
# and reported on; declared downtime can be ended.
_LINKS: Mapping[str, Mapping[str, Any]] = {
    "device_put": {
        "GetDevice": {
            "operationId": "device_detail",
            "parameters": {"ae_title": "$request.path.ae_title"},
        },
        "DeclareDowntime": {
            "operationId": "downtime_post",
            "parameters": {"ae_title": "$request.path.ae_title"},
        },
        "ListDowntime": {
            "operationId": "downtime_list",
            "parameters": {"ae_title": "$request.path.ae_title"},
        },
        "DeviceUptime": {
            "operationId": "device_uptime",
            "parameters": {"ae_title": "$request.path.ae_title"},
        },
    },
    "downtime_post": {
        "EndDowntime": {
            "operationId": "downtime_end",
            "parameters": {"ae_title": "$request.path.ae_title", "id": "$response.body#/id"},
        }
    },
}


def document(routes: Iterable[Route], *, secured: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route served."""
    components: dict[str, Any] = {"Problem": _PROBLEM, "OperationOutcome": _OUTCOME}
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, components, secured=secured
        )
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "imaging-gateway API",
            "version": "1",
            "description": "Orders, messages, patient flow and equipment of the imaging "
            "department (/api/v1), FHIR R4 (/fhir), probes and metrics. "
            + (
                "Bearer tokens: a reader token may GET; an operator token may also change."
                if secured
                else "No tokens file: the API is open, on loopback only."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return spec


def _operation(route: Route, components: dict[str, Any], *, secured: bool) -> dict[str, Any]:
    parameters: list[Mapping[str, Any]] = []
    if route.path_params is not None:
        parameters += _parameters(route.path_params, "path", components)
    if route.query is not None:
        parameters += _parameters(route.query, "query", components)
    parameters += route.parameters
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "parameters": parameters,
    }
    if route.description:
        operation["description"] = route.description
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _schema(route.body, components, "validation")}
            },
        }
    success: dict[str, Any] = {
        "description": route.summary,
        "content": {route.content_type: {"schema": _schema(route.response, components)}},
    }
    if route.handler.__name__ in _LINKS:
        success["links"] = _LINKS[route.handler.__name__]
    responses: dict[str, Any] = {str(route.status): success}
    guarded = secured and not is_open(route.path)
    # Role refusals exist only where tokens do (a route may declare 403 for the operator role).
    statuses = set(route.errors) - (set() if guarded else {401, 403})
    if guarded:
        statuses.add(401)
        if route.method not in READ_METHODS:
            statuses.add(403)
    for status in sorted(statuses):
        responses[str(status)] = _error(route, status, success)
    operation["responses"] = responses
    operation["security"] = [{"bearer": []}] if guarded else []
    return operation


def _error(route: Route, status: int, success: Mapping[str, Any]) -> dict[str, Any]:
    if status == 503:
        return {"description": _ERRORS[status], "content": success["content"]}
    fhir = route.path.startswith("/fhir/")
    schema = {"$ref": _REF.format(model="OperationOutcome" if fhir else "Problem")}
    return {
        "description": _ERRORS[status],
        "content": {(FHIR_JSON if fhir else PROBLEM_JSON): {"schema": schema}},
    }


def _parameters(
    model: type[BaseModel], where: str, components: dict[str, Any]
) -> list[dict[str, Any]]:
    """One OpenAPI parameter per field of a path or query model, with its limits."""
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    found = []
    for name, given in schema["properties"].items():
        prop = _without_null(given)
        description = prop.pop("description", "")
        found.append(
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                **({"description": description} if description else {}),
                "schema": prop,
            }
        )
    return found


def _without_null(prop: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter's schema without pydantic's title, default and null branch: a query value
    is text or absent, never null."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
    branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        prop = {**branches[0], **prop}
    elif branches:
        prop["anyOf"] = branches
    return prop


def _schema(kind: Any, components: dict[str, Any], mode: str = "serialization") -> dict[str, Any]:
    """The JSON Schema of a model, a dataclass, or a given schema; definitions to components."""
    if kind is None:
        return {}
    if isinstance(kind, Mapping):
        return dict(kind)
    schema = TypeAdapter(kind).json_schema(mode=mode, ref_template=_REF)  # type: ignore[arg-type]
    components.update(schema.pop("$defs", {}))
    return schema
