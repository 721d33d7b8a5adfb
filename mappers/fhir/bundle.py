"""The searchset Bundle a FHIR search answers with."""

from __future__ import annotations

from collections.abc import Sequence

from mappers.fhir.vocabulary import Resource


def to_fhir_searchset(
    base_url: str,
    links: Sequence[tuple[str, str]],
    total: int,
    matches: Sequence[Resource],
    included: Sequence[Resource] = (),
) -> Resource:
    """A searchset Bundle: `links` as (relation, url), then matches and included resources."""
    bundle: Resource = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links],
    }
    entries = [_entry(base_url, resource, "match") for resource in matches]
    entries += [_entry(base_url, resource, "include") for resource in included]
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base_url: str, resource: Resource, mode: str) -> Resource:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }
