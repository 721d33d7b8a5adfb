"""The paging kit: keyset pages in any mix of directions, NULLs last, read every row once,
and the cursor codec gives back the key it was given."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from mappers.cursor import aware, decode_key, encode_key
from store.paging import after_key, page_of

_META = MetaData()
_ROWS = Table("rows", _META, Column("id", Integer, primary_key=True), Column("t", Integer))


@pytest.mark.parametrize(
    ("descending", "nulls_last"),
    [
        ((True, True), (True, False)),
        ((False, False), (True, False)),
        ((True, False), (False, False)),
    ],
)
def test_pages_read_every_row_once_in_order(
    descending: tuple[bool, bool], nulls_last: tuple[bool, bool]
) -> None:
    """Paging by after_key gives the rows of one ORDER BY, whatever the page size."""
    draw = random.Random(3)
    nullable = nulls_last[0]
    values = [
        {"id": n, "t": None if nullable and draw.random() < 0.2 else draw.randrange(6)}
        for n in range(1, 60)
    ]
    engine = create_engine("sqlite://")
    _META.create_all(engine)
    t, row_id = _ROWS.c.t, _ROWS.c.id
    order = [
        (t.desc() if descending[0] else t.asc()).nulls_last(),
        row_id.desc() if descending[1] else row_id.asc(),
    ]
    with engine.begin() as conn:
        conn.execute(insert(_ROWS), values)
        whole = [tuple(r) for r in conn.execute(select(t, row_id).order_by(*order))]
        for size in (1, 4, 7):
            seen, key = [], None
            while True:
                statement = select(t, row_id).order_by(*order).limit(size + 1)
                if key is not None:
                    statement = statement.where(after_key((t, row_id), key, descending, nulls_last))
                page = page_of([(tuple(r), tuple(r)) for r in conn.execute(statement)], size)
                seen += page.items
                if page.next_key is None:
                    break
                key = page.next_key
            assert seen == whole


def test_the_cursor_gives_back_its_key() -> None:
    """A key with a time, text, an integer and a null comes back part for part."""
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC) + timedelta(microseconds=5)
    parts = decode_key(encode_key([at, "CT", 7, None]), 4)
    assert (aware(parts[0]), parts[1:]) == (at, ["CT", 7, None])
    with pytest.raises(ValueError, match="length"):
        decode_key(encode_key([1, 2]), 3)
    with pytest.raises(ValueError, match="not a cursor"):
        decode_key("%%%", 1)
