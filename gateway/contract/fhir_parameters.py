"""The FHIR search parameters of each resource type as OpenAPI parameters, from the same table
(`mappers.fhir.search_table.SEARCHES`) the parser and the CapabilityStatement read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mappers.fhir.search_table import DEFAULT_COUNT, MAX_COUNT, SEARCHES, Field, SearchParameter
from mappers.fhir.vocabulary import ResourceType

# The longest search value taken; the search route refuses longer ones (a 400 naming it).
MAX_VALUE_LENGTH = 256
_ID = r"[A-Za-z0-9\-.]{1,64}"
_YEAR = r"[1-9][0-9]{3}"
_DATE = rf"{_YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_TIME = rf"T{_CLOCK}(:[0-5][0-9](\.[0-9]{{1,9}})?)?(Z|[+\- ]{_CLOCK})"
_DATE_VALUE = rf"(eq|ge|le|gt|lt)?({_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]){_TIME}|{_DATE})"
# One token part: anything but the separators, or a separator escaped with a backslash.
_PART = r"([^,|\\\x00]|\\[^\x00])+"


def _any_of(value: str) -> str:
    """Comma-separated alternatives (OR); an empty value is ignored, as FHIR asks."""
    return f"^(({value})(,({value}))*)?$"


def _value_pattern(resource_type: ResourceType, parameter: SearchParameter) -> str:
    match parameter.field:
        case Field.ID:
            return _ID
        case Field.PATIENT:
            return rf"(Patient/)?{_ID}"
        case Field.STATUS:
            return "|".join(re.escape(code) for code in SEARCHES[resource_type].statuses)
        case Field.DATE | Field.LAST_UPDATED:
            return _DATE_VALUE
        case Field.MODALITY:
            return rf"(({_PART})?\|)?{_PART}"
    return rf"(({_PART})?\|)?{_PART}"  # identifier: value, |value or system|value


_FORMATS = ("json", "application/json", "application/fhir+json")


def _choice(names: Iterable[str]) -> dict[str, Any]:
    return {"type": "string", "enum": ["", *names]}


def _parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def search_parameters(resource_type: ResourceType) -> tuple[dict[str, Any], ...]:
    """Every query parameter a search of this type takes, with the values it reads."""
    search = SEARCHES[resource_type]
    found: list[dict[str, Any]] = []
    for parameter in search.parameters:
        pattern = _any_of(_value_pattern(resource_type, parameter))
        schema = {"type": "string", "pattern": pattern, "maxLength": MAX_VALUE_LENGTH}
        found.append(_parameter(parameter.name, parameter.documentation, schema))
        if parameter.field is Field.IDENTIFIER:
            of_type = _any_of(rf"{_PART}\|{_PART}\|{_PART}")
            found.append(
                _parameter(
                    "identifier:of-type",
                    "type-system|type-code|value, as IHE uses it",
                    {"type": "string", "pattern": of_type, "maxLength": MAX_VALUE_LENGTH},
                )
            )
    # Result parameters; an empty value is ignored, as FHIR asks.
    found += [
        _parameter(
            "_count",
            f"Page size (default {DEFAULT_COUNT}; more than {MAX_COUNT} is served as {MAX_COUNT}"
            "; 0 answers the total only).",
            {"type": "string", "pattern": "^[0-9]*$"},
        ),
        _parameter("_sort", "Sort order.", _choice(search.sorts)),
        _parameter(
            "_cursor",
            "The cursor of the next link (opaque); one this server did not issue for this "
            "search is answered 400.",
            {"type": "string", "pattern": r"^[A-Za-z0-9_-]{0,512}$"},
        ),
        _parameter("_format", "JSON only.", _choice(_FORMATS)),
    ]
    if search.include:
        found.append(_parameter("_include", "Include the patient.", _choice([search.include])))
    return tuple(found)


def served_types() -> Iterable[ResourceType]:
    """The resource types searched and read."""
    return SEARCHES.keys()
