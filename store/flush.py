"""Write a folded batch table by table, with multi-row statements, in the caller's transaction.

Tables are written in reference order, so that the ids of rows made in this batch are known
(from `INSERT ... RETURNING`) before a row that refers to them is written.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store import driver
from store.fold.outbox import HL7
from store.fold.state import Key, Row, State
from store.load import KEY_COLUMNS, REFERENCES, TABLES, Loaded
from store.schema import (
    device_transitions,
    dose_events,
    order_timeline,
    outbox,
    pacs_checks,
    reports,
)

# Reference order: a table comes after every table it refers to.
_ORDER = (
    "devices",
    "patients",
    "orders",
    "arrivals",
    "studies",
    "series",
    "instances",
    "steps",
    "downtimes",
    "probe_sessions",
)
_APPENDED: dict[str, Table] = {
    "order_timeline": order_timeline,
    "reports": reports,
    "device_transitions": device_transitions,
    "pacs_checks": pacs_checks,
}


def flush(conn: Connection, loaded: Loaded, state: State) -> None:
    """Insert new rows, update changed ones, add appended ones."""
    for name in _ORDER:
        before = loaded.tables[name]
        new: list[tuple[Key, Row]] = []
        changed: list[tuple[Row | None, Row]] = []
        for key, row in state.tables[name].items():
            if row["id"] is None:
                new.append((key, row))
            elif before.get(key) is not row:
                changed.append((before.get(key), row))
        if new:
            _insert(conn, loaded, name, new)
        if name == "patients":
            # A merge may point at a patient made in this batch: set it once both have ids.
            changed += [(None, row) for _, row in new if row["merged_into"] is not None]
        if changed:
            _update(conn, loaded, name, changed)
    for name, table in _APPENDED.items():
        rows = state.appended[name]
        if rows:
            driver.execute_many(
                conn, _plain_insert(table), [_to_columns(loaded, name, row) for row in rows]
            )
    if state.appended["dose_events"]:
        # A dose report sent again with other content (same SOP Instance UID) keeps its
        # first rows, as an instance keeps its first receipt.
        driver.execute_many(conn, _dose_insert(conn.dialect.name), state.appended["dose_events"])


@functools.cache
def _plain_insert(table: Table) -> Executable:
    return insert(table)


@functools.cache
def _dose_insert(dialect: str) -> Executable:
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(dose_events)
    return statement.on_conflict_do_nothing(index_elements=["sop_instance_uid", "event_uid"])


def add_outbox_rows(conn: Connection, rows: list[Row]) -> None:
    """Insert the batch's outbox rows, each with the event id it keeps on every attempt: an
    HL7 message's MSH-10 (20 characters, HL7 v2.3.1 ST) or a webhook's UUID."""
    if rows:
        given = [{**row, "event_id": _event_id(row["kind"])} for row in rows]
        driver.execute_many(conn, _plain_insert(outbox), given)


def _event_id(kind: str) -> str:
    return uuid.uuid4().hex[:20].upper() if kind == HL7 else str(uuid.uuid4())


def _insert(conn: Connection, loaded: Loaded, name: str, rows: list[tuple[Key, Row]]) -> None:
    values = [_to_columns(loaded, name, row, new=True) for _, row in rows]
    ids = loaded.ids.setdefault(name, {})
    key_columns = KEY_COLUMNS[name]
    if conn.dialect.name == "sqlite":
        # One executemany, no RETURNING: SQLite cannot return the rows of a multi-row insert
        # in order, so SQLAlchemy would insert them one statement at a time.
        for (key, _), row_id in zip(rows, give_ids(conn, TABLES[name], values), strict=True):
            ids[key] = row_id
    elif key_columns == ("id",):
        # No natural key: the ids come back in the order the rows were given.
        returned = driver.insert_returning(conn, TABLES[name], values, ("id",))
        for (key, _), found in zip(rows, returned, strict=True):
            ids[key] = found["id"]
    else:
        for found in driver.insert_returning(conn, TABLES[name], values, ("id", *key_columns)):
            ids[_key(found, key_columns)] = found["id"]
    for key, row in rows:
        row["id"] = ids[key]  # the fold is done with its rows; later tables and updates need it


def give_ids(conn: Connection, table: Table, values: list[dict[str, Any]]) -> list[int]:
    """Insert `values` with ids chosen here, on SQLite: the ids it would have chosen itself.

    The writer's transaction began IMMEDIATE and holds the database's one write lock, so
    no other connection inserts meanwhile; a rowid table without AUTOINCREMENT gives a new
    row the largest id plus one, which is what this takes.
    """
    (found,) = driver.rows(conn, _last_id(table), {})
    last = found["last"] or 0
    given = list(range(last + 1, last + 1 + len(values)))
    rows = [{**row, "id": n} for row, n in zip(values, given, strict=True)]
    driver.execute_many(conn, _plain_insert(table), rows)
    return given


@functools.cache
def _last_id(table: Table) -> Executable:
    return select(func.max(table.c.id).label("last"))


def _key(row: dict[str, Any], columns: tuple[str, ...]) -> Key:
    return row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)


def _update(
    conn: Connection, loaded: Loaded, name: str, rows: list[tuple[Row | None, Row]]
) -> None:
    """Set only the columns that changed, one executemany per set of changed columns.

    An order that gains a milestone changes two or three of its sixty columns; writing all of
    them would rewrite every index on the table (SQLite updates an index whenever one of its
    columns is SET, equal or not) and send every value again.
    """
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for old, row in rows:
        values = _to_columns(loaded, name, row)
        if old is None:
            changed = tuple(c for c in values if c != "id")
        else:
            was = _to_columns(loaded, name, old)
            changed = tuple(c for c, v in values.items() if c != "id" and was.get(c) != v)
        if changed:
            params = {f"b_{c}": values[c] for c in changed}
            by_columns.setdefault(changed, []).append({"b_id": values["id"], **params})
    for columns, params in by_columns.items():
        driver.execute_many(conn, _update_by_id(name, columns), params)


@functools.cache
def _update_by_id(name: str, columns: tuple[str, ...]) -> Executable:
    table = TABLES[name]
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({c: bindparam(f"b_{c}", type_=table.c[c].type) for c in columns})
    )


def _to_columns(loaded: Loaded, name: str, row: Row, *, new: bool = False) -> dict[str, Any]:
    """A fold row as the table's columns: references by key become ids."""
    values = dict(row)
    for id_column, (ref, target, _) in REFERENCES.get(name, {}).items():
        key = values.pop(ref)
        if name == "patients" and new:
            values[id_column] = None  # set by the update that follows, once every id is known
        else:
            values[id_column] = None if key is None else loaded.ids[target.name][key]
    if new:
        values.pop("id", None)
    return values
