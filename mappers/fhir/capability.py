"""The FHIR CapabilityStatement, made from the search table it describes."""

from __future__ import annotations

from mappers.fhir.search_table import (
    DEFAULT_COUNT,
    MAX_COUNT,
    SEARCHES,
    ResourceSearch,
    SearchParameter,
)
from mappers.fhir.vocabulary import Resource, ResourceType

FHIR_VERSION = "4.0.1"
# When this statement last changed: move it with the search table.
PUBLISHED = "2026-11-22"


def to_fhir_capability_statement(base_url: str, software_version: str) -> Resource:
    """The CapabilityStatement: FHIR 4.0.1, JSON, read and search-type on every type in
    `SEARCHES`, with exactly its parameters, includes and sorts."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": PUBLISHED,
        "publisher": "imaging-gateway",
        "kind": "instance",
        "software": {"name": "imaging-gateway", "version": software_version},
        "implementation": {
            "description": "imaging-gateway FHIR R4 facade (read-only)",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    _capability(resource_type, search) for resource_type, search in SEARCHES.items()
                ],
            }
        ],
    }


def _capability(resource_type: ResourceType, search: ResourceSearch) -> Resource:
    resource: Resource = {
        "type": str(resource_type),
        "documentation": (
            f"_sort: {', '.join(search.sorts)} (by id without it); _count: default "
            f"{DEFAULT_COUNT}, at most {MAX_COUNT}; paging by the next link."
        ),
        "interaction": [{"code": "read"}, {"code": "search-type"}],
    }
    if search.include:
        resource["searchInclude"] = [search.include]
    resource["searchParam"] = [_capability_parameter(p) for p in search.parameters]
    return resource


def _capability_parameter(parameter: SearchParameter) -> Resource:
    entry: Resource = {"name": parameter.name}
    if parameter.definition:
        entry["definition"] = parameter.definition
    entry["type"] = parameter.type
    entry["documentation"] = parameter.documentation
    return entry
