"""The paging kit's store half, for every list of `/api` and every search of `/fhir`: a page of
keyed items, and the one keyset condition that reads on after the last key, in any mix of
ascending and descending sort columns, NULLs sorting last where a column has them
(`mappers.cursor` carries the key to the client and back as an opaque cursor)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the sort key of its last item when more follow."""

    items: tuple[T, ...]
    next_key: Any = None  # a tuple of the sort columns' values, or None on the last page


def page_of(items: Sequence[tuple[Any, T]], limit: int) -> Page[T]:
    """A page from up to `limit + 1` keyed items (the extra one says that more follow)."""
    shown = items[:limit]
    next_key = shown[-1][0] if len(items) > limit else None
    return Page(tuple(item for _, item in shown), next_key)


def after_key(
    columns: Sequence[ColumnElement[Any]],
    key: Sequence[Any],
    descending: Sequence[bool] | None = None,
    nulls_last: Sequence[bool] | None = None,
) -> ColumnElement[bool]:
    """Rows that sort after `key` by `columns`, each ascending unless `descending` says so; a
    column flagged in `nulls_last` may hold NULLs, which sort after every value.

    Raises:
        ValueError: the key and the columns differ in length, or there are none.
    """
    if not columns or len(columns) != len(key):
        raise ValueError("a key part per sort column")
    downs = descending or [False] * len(columns)
    nullable = nulls_last or [False] * len(columns)
    condition: ColumnElement[bool] | None = None
    parts = list(zip(columns, key, downs, nullable, strict=True))
    for column, value, down, has_nulls in reversed(parts):
        if value is None:
            # Nothing but NULLs sorts after a NULL; among them, the rest of the key decides.
            condition = column.is_(None) if condition is None else and_(column.is_(None), condition)
            continue
        beyond = column < value if down else column > value
        tied = [] if condition is None else [and_(column == value, condition)]
        later = [column.is_(None)] if has_nulls else []
        condition = or_(beyond, *tied, *later) if tied or later else beyond
    assert condition is not None
    return condition
