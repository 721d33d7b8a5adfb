"""Recompute the read models from the orders, their steps and their studies.

The same pure rules as the fold (store.fold.readmodels), run over every order in pages of
`PAGE` orders: used by the backfill migration and by `imaging-gateway rebuild-read-models`.
The figure rows' bucket counts are then counted from the figure rows in SQL.
The caller owns the transaction; the read models are emptied and written again inside it.

A migration passes the tables as they stand at its own revision (`ReadModelTables`): each row
is written with the columns its table has then, so an old revision's backfill still runs when
later revisions have added columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Integer,
    String,
    TableClause,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    select,
    type_coerce,
    union_all,
)

from store.figures import FIGURES
from store.fold.readmodels import order_models, related, volume_rows
from store.fold.state import Row
from store.schema import (
    board_orders,
    devices,
    figure_counts,
    order_figures,
    orders,
    procedure_steps,
    studies,
    volume_hours,
)

PAGE = 5000


@dataclass(frozen=True, slots=True)
class ReadModelTables:
    """The read models' tables a rebuild writes: today's, or a migration's own; no counts
    table before revision 0017."""

    figures: TableClause = order_figures
    board: TableClause = board_orders
    volumes: TableClause = volume_hours
    counts: TableClause | None = figure_counts


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """How many rows each read model holds after a rebuild."""

    figures: int
    board: int
    volume_hours: int
    figure_counts: int


def rebuild_read_models(
    conn: Connection, tz: ZoneInfo, tables: ReadModelTables | None = None
) -> Rebuilt:
    """Empty the read models and compute them again from every order."""
    tables = tables or ReadModelTables()
    for table in (tables.counts, tables.figures, tables.board, tables.volumes):
        if table is not None:
            conn.execute(delete(table))
    counts: Counter[tuple[datetime, str, str, str]] = Counter()
    figures = board = 0
    for page in _pages(conn):
        ids = {row["accession"]: row["id"] for row in page}
        around = related(_steps(conn, list(ids.values())), _studies(conn, list(ids.values())))
        figure_rows: list[Row] = []
        board_rows: list[Row] = []
        for order in page:
            models = order_models(order, around, tz)
            figure_rows += [_with_id(row, ids) for row in models.figures.values()]
            if models.board is not None:
                board_rows.append(_with_id(models.board, ids))
            counts.update(models.volumes)
        if figure_rows:
            conn.execute(insert(tables.figures), _columns(tables.figures, figure_rows))
        if board_rows:
            conn.execute(insert(tables.board), _columns(tables.board, board_rows))
        figures += len(figure_rows)
        board += len(board_rows)
    hours = volume_rows(counts, tz)
    if hours:
        conn.execute(insert(tables.volumes), _columns(tables.volumes, hours))
    made = count_figures(conn) if tables.counts is not None else 0
    return Rebuilt(figures, board, len(hours), made)


def _columns(table: TableClause, rows: list[Row]) -> list[Row]:
    """The rows with only the columns the table has."""
    names = [c.name for c in table.c]
    if all(name in names for name in rows[0]):
        return rows
    return [{name: row[name] for name in names} for row in rows]


def count_figures(conn: Connection) -> int:
    """Fill the empty figure_counts from order_figures, every span, one INSERT ... SELECT per
    figure (each well inside the engine's command timeout at a million orders); returns how
    many count rows it made. The rows go in span and start order, so that the rows a read
    takes of one span lie on few pages."""
    f = order_figures.c
    keys = [f.figure, f.modality, f.priority, f.patient_class, f.bucket]
    names = ["span", "start", "figure", "modality", "priority", "patient_class", "bucket", "count"]
    made = 0
    for figure in FIGURES:
        spans = [
            select(literal(span, String).label("span"), start.label("start"), *keys, func.count())
            .where(f.figure == figure)
            .group_by(start, *keys)
            for span, start in (
                ("day", f.day),
                ("week", _monday(conn.dialect.name, f.day)),
                ("month", _first_of_month(conn.dialect.name, f.day)),
            )
        ]
        ordered = union_all(*spans).order_by(literal_column("span"), literal_column("start"))
        result = conn.execute(insert(figure_counts).from_select(names, ordered))
        made += max(result.rowcount, 0)
    return made


def _first_of_month(dialect: str, day: ColumnElement[Any]) -> ColumnElement[Any]:
    """The first day of a stored date's month (store.fold.figure_counts.month_start), in SQL."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return type_coerce(func.date(day, "start of month"), Date)


def _monday(dialect: str, day: ColumnElement[Any]) -> ColumnElement[Any]:
    """The Monday of a stored date's week (store.fold.figure_counts.week_start), in SQL."""
    if dialect == "postgresql":
        return day - cast(extract("isodow", day), Integer) + 1
    weekday = (cast(func.strftime("%w", day), Integer) + 6) % 7  # %w: 0 is Sunday
    # Not CAST(... AS DATE): SQLite would make the text a number.
    return type_coerce(func.date(day, "-" + cast(weekday, String) + " days"), Date)


def _with_id(row: Row, ids: dict[str, int]) -> Row:
    values = dict(row)
    values["order_id"] = ids[values.pop("order")]
    return values


def _pages(conn: Connection) -> Iterator[list[Row]]:
    last = 0
    while True:
        statement = select(orders).where(orders.c.id > last).order_by(orders.c.id).limit(PAGE)
        page = [dict(row) for row in conn.execute(statement).mappings()]
        if not page:
            return
        yield page
        last = page[-1]["id"]


def _steps(conn: Connection, order_ids: list[int]) -> list[Row]:
    s = procedure_steps.c
    statement = (
        select(
            s.id,
            orders.c.accession.label("order"),
            devices.c.ae_title.label("device"),
            s.status,
            s.station_ae_title,
            s.started_at,
        )
        .select_from(
            procedure_steps.join(orders, orders.c.id == s.order_id).outerjoin(
                devices, devices.c.id == s.device_id
            )
        )
        .where(s.order_id.in_(order_ids))
        .order_by(s.id)
    )
    return [dict(row) for row in conn.execute(statement).mappings()]


def _studies(conn: Connection, order_ids: list[int]) -> list[Row]:
    s = studies.c
    statement = (
        select(
            s.id,
            orders.c.accession.label("order"),
            devices.c.ae_title.label("device"),
            s.first_instance_at,
        )
        .select_from(
            studies.join(orders, orders.c.id == s.order_id).outerjoin(
                devices, devices.c.id == s.device_id
            )
        )
        .where(s.order_id.in_(order_ids))
        .order_by(s.id)
    )
    return [dict(row) for row in conn.execute(statement).mappings()]
