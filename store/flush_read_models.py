"""Write a batch's read-model changes in the caller's transaction, after the rows they name.

Figure and board rows that changed are replaced (delete then insert, one executemany each;
a new order's rows are only inserted); volume counts and the figure rows' bucket counts
are added to the stored ones with an upsert, so batches of several processes add up.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Executable, Table, and_, bindparam, delete, insert
from sqlalchemy.dialects import postgresql, sqlite

from store import driver
from store.fold.readmodels import VOLUME_MEASURES, ReadModelChanges
from store.fold.state import Key, Row
from store.schema import board_orders, figure_counts, order_figures, volume_hours


def flush_read_models(
    conn: Connection, order_ids: dict[Key, int], changes: ReadModelChanges
) -> None:
    """Delete the figure and board rows that changed or went, insert the new ones, and add
    the volume counts (on the driver's cursor: through `Connection.execute` these few
    statements cost as much as all the batch's other writes)."""
    gone = [(order_ids[key], figure) for key, figure in changes.figures_gone]
    if gone:
        driver.execute_many(
            conn, _delete_figure(), [{"b_order": o, "b_figure": f} for o, f in gone]
        )
    if changes.figures_put:
        driver.execute_many(
            conn, _insert(order_figures), [_with_id(row, order_ids) for row in changes.figures_put]
        )
    cleared = [order_ids[key] for key in changes.board_gone]
    if cleared:
        driver.execute_many(conn, _delete_board(), [{"b_order": o} for o in cleared])
    if changes.board_put:
        driver.execute_many(
            conn, _insert(board_orders), [_with_id(row, order_ids) for row in changes.board_put]
        )
    if changes.volumes:
        add_volumes(conn, changes.volumes)
    if changes.figure_counts:
        driver.execute_many(conn, _add_figure_counts(conn.dialect.name), changes.figure_counts)


def add_volumes(conn: Connection, rows: list[Row]) -> None:
    """Add counts to volume_hours, making the rows that do not exist yet."""
    driver.execute_many(conn, _add_volumes(conn.dialect.name), rows)


@functools.cache
def _insert(table: Table) -> Executable:
    return insert(table)


def _with_id(row: Row, order_ids: dict[Key, int]) -> dict[str, Any]:
    values = dict(row)
    values["order_id"] = order_ids[values.pop("order")]
    return values


@functools.cache
def _delete_figure() -> Executable:
    return delete(order_figures).where(
        and_(
            order_figures.c.order_id == bindparam("b_order"),
            order_figures.c.figure == bindparam("b_figure"),
        )
    )


@functools.cache
def _delete_board() -> Executable:
    return delete(board_orders).where(board_orders.c.order_id == bindparam("b_order"))


@functools.cache
def _add_volumes(dialect: str) -> Executable:
    table: Table = volume_hours
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return statement.on_conflict_do_update(
        index_elements=["hour_at", "modality", "device"],
        set_={m: table.c[m] + statement.excluded[m] for m in VOLUME_MEASURES},
    )


@functools.cache
def _add_figure_counts(dialect: str) -> Executable:
    # Rows that fall to zero stay: deleting them would race with another process's upsert.
    table: Table = figure_counts
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return statement.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={"count": table.c["count"] + statement.excluded["count"]},
    )
