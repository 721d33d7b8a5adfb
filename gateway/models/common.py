"""Building blocks of the request models: strict query models, ranges, pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from gateway.contract.types import DEFAULT_LIMIT, Cursor, Instant, Limit

_RANGE_RULE = "`from` must be before `to` (a 400 names `from` otherwise)."


class Query(BaseModel):
    """A route's query string: unknown names refused, values read from text."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Paged(Query):
    """Keyset paging: a page size and the cursor of the page before."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class Ranged(Paged):
    """A time range [from, to) with paging; either bound may be left open."""

    model_config = ConfigDict(json_schema_extra={"description": _RANGE_RULE})

    from_: Instant | None = Field(
        None,
        alias="from",
        description="Start, inclusive: an RFC 3339 date-time with offset, or a date (UTC "
        f"midnight). {_RANGE_RULE}",
    )
    to: Instant | None = Field(
        None,
        description="End, exclusive: an RFC 3339 date-time with offset, or a date (UTC midnight).",
    )

    @model_validator(mode="after")
    def _from_before_to(self) -> Ranged:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("from: must be before to")
        return self


class Body(BaseModel):
    """A JSON request body: unknown fields refused, types strict (no "yes" for true)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def page_of(item: Any, name: str, **echo: Any) -> type[BaseModel]:
    """The response model of a page of `item`, with any echo fields of the query."""
    fields: dict[str, Any] = {key: (kind, ...) for key, kind in echo.items()}
    return create_model(
        name,
        **fields,
        items=(list[item], ...),
        next_cursor=(str | None, Field(..., description="The cursor of the next page, or null.")),
    )
