"""The paging kit's store half: a page of keyed items, and the keyset condition that reads on
after the last key, in any mix of ascending and descending sort columns (`gateway.paging`
carries the key to the client and back as an opaque cursor)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyedPage(Generic[T]):
    """One page of a list, and the sort key of its last item when more follow."""

    items: tuple[T, ...]
    next_key: tuple[Any, ...] | None = None


def page_of(items: Sequence[tuple[tuple[Any, ...], T]], limit: int) -> KeyedPage[T]:
    """A page from up to `limit + 1` keyed items (the extra one says that more follow)."""
    shown = items[:limit]
    next_key = shown[-1][0] if len(items) > limit else None
    return KeyedPage(tuple(item for _, item in shown), next_key)


def after_key(
    columns: Sequence[ColumnElement[Any]],
    key: Sequence[Any],
    descending: Sequence[bool] | None = None,
) -> ColumnElement[bool]:
    """Rows that sort after `key` by `columns` (each ascending unless `descending` says so).

    Raises:
        ValueError: the key and the columns differ in length.
    """
    if len(columns) != len(key):
        raise ValueError("a key part per sort column")
    directions = descending or [False] * len(columns)
    condition: ColumnElement[bool] | None = None
    for column, value, down in reversed(list(zip(columns, key, directions, strict=True))):
        beyond = column < value if down else column > value
        condition = beyond if condition is None else or_(beyond, and_(column == value, condition))
    assert condition is not None, "at least one sort column"
    return condition
