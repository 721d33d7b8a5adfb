"""FHIR search parameters to a typed query, by the table in `mappers.fhir.search_table`.

Semantics (FHIR R4 search, strict handling):

- A parameter repeated is AND; comma-separated values are OR (`\\,` escapes a comma).
- An empty value is ignored, as FHIR asks; an unknown parameter, modifier, prefix or a bad
  value raises `SearchError` naming the parameter.
- `_id`, `patient`/`subject`: FHIR ids; a reference is `Patient/123` or `123`.
- `identifier`: `system|value`, `|value` (no system) or `value`; `identifier:of-type` takes
  `type-system|type-code|value` (IHE's `...v2-0203|ACSN|<accession>`).
- Dates (`authored`, `started`, `date`, `_lastUpdated`): prefixes eq (default), ge, le, gt, lt
  with YYYY, YYYY-MM, YYYY-MM-DD (UTC) or a date-time with an offset; the value is the range
  its precision spans, and the prefix compares the stored instant with that range.
- `_count`: default 20; more than 200 is served as 200; 0 answers the total only.
- `_sort`: `date`, `-date` (types with a date), `_lastUpdated`, `-_lastUpdated`; without it,
  by id. Rows without a date come last either way.
- Paging is by keyset: the next link carries `_cursor`, the last row's sort key (opaque).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mappers.cursor import aware, decode_key, encode_key
from mappers.fhir.search_table import (
    DEFAULT_COUNT,
    MAX_COUNT,
    SEARCHES,
    Field,
    ResourceSearch,
    SearchParameter,
)
from mappers.fhir.vocabulary import (
    DICOM_UID,
    DICOM_VOCABULARY,
    IDENTIFIER_KINDS,
    IDENTIFIER_TYPES,
    OID_PREFIX,
    PATIENT_ID,
    IdentifierKind,
    ResourceType,
    authority_of,
)

# A time and a row id: the sort key of the last row of a page (keyset paging).
SortKey = tuple[datetime | None, int]


class SearchError(ValueError):
    """A search the server cannot run; the message starts with the parameter's name."""


# Result parameters every type takes, each at most once but `_include`.
_RESULT_PARAMETERS = ("_count", "_sort", "_include", "_cursor", "_format")
_JSON_FORMATS = frozenset(("json", "application/json", "application/fhir+json"))


@dataclass(frozen=True, slots=True)
class IdentifierMatch:
    """An identifier to match: of this kind, with this value (and, for patients, authority)."""

    kind: IdentifierKind
    value: str
    authority: str | None = None  # patients only: None matches any authority


@dataclass(frozen=True, slots=True)
class Interval:
    """A time range: `start` inclusive, `end` exclusive; None is unbounded."""

    start: datetime | None
    end: datetime | None


Value = int | str | IdentifierMatch | Interval


@dataclass(frozen=True, slots=True)
class Clause:
    """One parameter: a row matches when it matches any of the values (none: no row)."""

    field: Field
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Sort:
    """The order of the results: by id, the type's date, or last update."""

    field: Field = Field.ID  # ID, DATE or LAST_UPDATED
    descending: bool = False

    @property
    def name(self) -> str:
        """The `_sort` value this order came from (`_id` for the default)."""
        text = {Field.ID: "_id", Field.DATE: "date"}.get(self.field, "_lastUpdated")
        return "-" + text if self.descending else text


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search, validated: the type, what narrows it (all clauses), and the page asked for."""

    type: ResourceType
    clauses: tuple[Clause, ...] = ()
    include_patient: bool = False
    sort: Sort = Sort()
    count: int = DEFAULT_COUNT
    after: SortKey | None = None


def parse_search(resource_type: ResourceType, pairs: Iterable[tuple[str, str]]) -> SearchQuery:
    """Read a search's query parameters (name, value pairs in order) into a query.

    Raises:
        SearchError: a parameter is unknown, repeated where it may not be, or its value bad.
    """
    search = SEARCHES[resource_type]
    by_name = {parameter.name: parameter for parameter in search.parameters}
    clauses: list[Clause] = []
    results: dict[str, str] = {}
    include = False
    for name, value in pairs:
        base, colon, modifier = name.partition(":")
        if base in _RESULT_PARAMETERS:
            if colon:
                raise SearchError(f"{name}: modifiers are not supported on {base}")
            if not value:
                continue
            if base == "_include":
                if not search.include or value != search.include:
                    allowed = search.include or "nothing"
                    raise SearchError(f"_include: {value!r} not supported; {allowed} is")
                include = True
            elif base in results:
                raise SearchError(f"{base}: given more than once")
            else:
                results[base] = value
            continue
        parameter = by_name.get(base)
        if parameter is None:
            known = ", ".join([*by_name, *_RESULT_PARAMETERS])
            raise SearchError(f"{name}: unknown search parameter for {resource_type}; {known}")
        if colon and not (modifier == "of-type" and parameter.field is Field.IDENTIFIER):
            raise SearchError(f"{name}: modifier :{modifier} is not supported")
        if value:
            clauses.append(_clause(resource_type, parameter, name, value, of_type=bool(colon)))
    if results.get("_format", "json") not in _JSON_FORMATS:
        raise SearchError(f"_format: only JSON is served, not {results['_format']!r}")
    sort = _sort(search, results.get("_sort"))
    cursor = results.get("_cursor")
    return SearchQuery(
        type=resource_type,
        clauses=tuple(clauses),
        include_patient=include,
        sort=sort,
        count=_count(results.get("_count")),
        after=None if cursor is None else decode_cursor(cursor, sort),
    )


def encode_cursor(sort: Sort, key: SortKey) -> str:
    """The opaque `_cursor` of a page that follows the row with this sort key."""
    when, row_id = key
    return encode_key([sort.name, when, row_id])


def decode_cursor(text: str, sort: Sort) -> SortKey:
    """The sort key a `_cursor` carries.

    Raises:
        SearchError: it is not a cursor this server issued for a search in this order.
    """
    try:
        name, when, row_id = decode_key(text, 3)
        if name != sort.name or type(row_id) is not int:
            raise ValueError("another search's cursor")
        key_time = None if when is None else aware(when)
        if key_time is not None and sort.field is Field.ID:
            raise ValueError("a time in an id cursor")
    except (ValueError, TypeError):
        raise SearchError("_cursor: not a cursor this server issued for this search") from None
    return key_time, row_id


def page_parameters(
    pairs: Iterable[tuple[str, str]], count: int, cursor: str | None
) -> list[tuple[str, str]]:
    """A search's parameters for one of its pages: as given, with `_count` and `_cursor` set."""
    kept = [(name, value) for name, value in pairs if value and name not in ("_count", "_cursor")]
    kept.append(("_count", str(count)))
    if cursor is not None:
        kept.append(("_cursor", cursor))
    return kept


# --- values ---------------------------------------------------------------------------

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ROW_ID = re.compile(r"[0-9]{1,18}")
_DATE_VALUE = re.compile(
    r"(?P<prefix>[a-z]{2})?(?P<date>\d{4}(?:-\d{2}(?:-\d{2})?)?)"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?P<zone>Z|[+\- ]\d{2}:\d{2}))?"
)
_DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")


def _clause(
    resource_type: ResourceType, parameter: SearchParameter, name: str, text: str, *, of_type: bool
) -> Clause:
    search = SEARCHES[resource_type]
    values: list[Value] = []
    for part in _split(text, ","):
        if not part:
            raise SearchError(f"{name}: empty value in {text!r}")
        # Tokens split on "|" first; other values have no structure left to escape.
        match parameter.field:
            case Field.ID:
                values.extend(_row_id(name, _unescape(part)))
            case Field.PATIENT:
                values.extend(_patient_id(name, _unescape(part)))
            case Field.STATUS:
                values.extend(_status_values(name, _unescape(part), search))
            case Field.DATE | Field.LAST_UPDATED:
                values.append(_interval(name, _unescape(part)))
            case Field.MODALITY:
                values.extend(_modality(name, part))
            case Field.IDENTIFIER:
                values.extend(_identifiers(resource_type, name, part, of_type))
    return Clause(parameter.field, tuple(values))


def _split(text: str, separator: str) -> list[str]:
    """Split on a separator not escaped by a backslash, keeping the escapes."""
    parts, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    """Undo FHIR's search escapes: `\\,`, `\\|`, `\\$` and `\\\\`."""
    return re.sub(r"\\([,|$\\])", r"\1", text)


def _row_id(name: str, text: str) -> list[int]:
    """A FHIR id as a row id; none for an id of another form (no row has it)."""
    if not _FHIR_ID.fullmatch(text):
        raise SearchError(f"{name}: {text!r} is not a FHIR id")
    return [int(text)] if _ROW_ID.fullmatch(text) else []


def _patient_id(name: str, text: str) -> list[int]:
    type_name, slash, row_id = text.rpartition("/")
    if slash and type_name != "Patient":
        raise SearchError(f"{name}: {text!r} is not a Patient reference (Patient/id or id)")
    return _row_id(name, row_id)


def _status_values(name: str, text: str, search: ResourceSearch) -> tuple[str, ...]:
    stored = search.statuses.get(text)
    if stored is None:
        raise SearchError(f"{name}: {text!r} is not one of {', '.join(search.statuses)}")
    return stored


def _modality(name: str, text: str) -> list[str]:
    parts = [_unescape(part) for part in _split(text, "|")]
    if len(parts) > 2 or not parts[-1]:
        raise SearchError(f"{name}: {text!r} is not a code or system|code")
    if len(parts) == 2 and parts[0] != DICOM_VOCABULARY:
        return []  # another system (or none): no series has such a code
    return [parts[-1]]


def _identifiers(
    resource_type: ResourceType, name: str, text: str, of_type: bool
) -> list[IdentifierMatch]:
    """The identifier kinds of this type the token can name, each with its stored value."""
    parts = [_unescape(part) for part in _split(text, "|")]
    kinds = IDENTIFIER_KINDS[resource_type]
    if of_type:
        if len(parts) != 3 or not all(parts):
            raise SearchError(f"{name}: {text!r} is not type-system|type-code|value")
        type_system, type_code, value = parts
        return [
            IdentifierMatch(kind, value)
            for kind in kinds
            if type_system == IDENTIFIER_TYPES and kind.type_code == type_code
        ]
    if len(parts) > 2 or not parts[-1]:
        raise SearchError(f"{name}: {text!r} is not value, |value or system|value")
    value = parts[-1]
    system = parts[0] if len(parts) == 2 else None
    found: list[IdentifierMatch] = []
    for kind in kinds:
        if kind is PATIENT_ID:
            if system is None:
                found.append(IdentifierMatch(kind, value))
            elif system == "":
                found.append(IdentifierMatch(kind, value, ""))
            elif (authority := authority_of(system)) is not None:
                found.append(IdentifierMatch(kind, value, authority))
        elif system in (None, kind.system):
            if kind is DICOM_UID:
                if value.startswith(OID_PREFIX):
                    found.append(IdentifierMatch(kind, value.removeprefix(OID_PREFIX)))
            else:
                found.append(IdentifierMatch(kind, value))
    return found


def _interval(name: str, text: str) -> Interval:
    """A prefixed FHIR date or date-time as the time range it selects.

    Raises:
        SearchError: the prefix or the date is not one this server reads.
    """
    match = _DATE_VALUE.fullmatch(text)
    if match is None:
        raise SearchError(
            f"{name}: {text!r} is not [prefix]YYYY, YYYY-MM, YYYY-MM-DD or a date-time "
            "with an offset (2026-03-02T08:30:00+01:00)"
        )
    prefix = match["prefix"] or "eq"
    if prefix not in _DATE_PREFIXES:
        raise SearchError(f"{name}: prefix {prefix!r} is not one of {', '.join(_DATE_PREFIXES)}")
    try:
        start, end = _range(match["date"], match["time"], match["zone"])
    except ValueError:
        raise SearchError(f"{name}: {text!r} is not a valid date") from None
    return {
        "eq": Interval(start, end),
        "ge": Interval(start, None),
        "gt": Interval(end, None),
        "le": Interval(None, end),
        "lt": Interval(None, start),
    }[prefix]


def _range(day: str, clock: str | None, zone: str | None) -> tuple[datetime, datetime]:
    """The [start, end) its precision gives a date (UTC) or date-time."""
    if clock is None:
        parts = [int(p) for p in day.split("-")]
        if len(parts) == 1:
            return _utc(parts[0], 1, 1), _utc(parts[0] + 1, 1, 1)
        if len(parts) == 2:
            year, month = parts
            following = (year + 1, 1) if month == 12 else (year, month + 1)
            return _utc(year, month, 1), _utc(*following, 1)
        start = _utc(*parts)
        return start, start + timedelta(days=1)
    if len(day) != 10:
        raise ValueError("a time needs a full date")
    zone = "+" + zone[1:] if zone.startswith(" ") else zone  # a "+" sent unescaped
    seconds, _, fraction = clock.partition(".")
    fraction = fraction[:6]
    start = datetime.fromisoformat(
        f"{day}T{seconds}{'.' + fraction.ljust(6, '0') if fraction else ''}{zone}"
    ).astimezone(UTC)
    if fraction:
        step = timedelta(microseconds=10 ** (6 - len(fraction)))
    elif seconds.count(":") == 2:
        step = timedelta(seconds=1)
    else:
        step = timedelta(minutes=1)
    return start, start + step


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def _count(text: str | None) -> int:
    if text is None:
        return DEFAULT_COUNT
    if not text.isascii() or not text.isdigit():
        raise SearchError(f"_count: {text!r} is not a whole number")
    return min(int(text), MAX_COUNT)


def _sort(search: ResourceSearch, text: str | None) -> Sort:
    if text is None:
        return Sort()
    if text not in search.sorts:
        raise SearchError(f"_sort: {text!r} is not one of {', '.join(search.sorts)}")
    descending = text.startswith("-")
    field_ = Field.DATE if text.lstrip("-") == "date" else Field.LAST_UPDATED
    return Sort(field_, descending)
