"""Recompute the read models from the orders, their steps and their studies.

The same pure rules as the fold (store.fold.readmodels), run over every order in pages of
`PAGE` orders: used by the backfill migration and by `imaging-gateway rebuild-read-models`.
The caller owns the transaction; the read models are emptied and written again inside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, insert, select

from store.fold.readmodels import order_models, related, volume_rows
from store.fold.state import Row
from store.schema import (
    board_orders,
    devices,
    order_figures,
    orders,
    procedure_steps,
    studies,
    volume_hours,
)

PAGE = 5000


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """How many rows each read model holds after a rebuild."""

    figures: int
    board: int
    volume_hours: int


def rebuild_read_models(conn: Connection, tz: ZoneInfo) -> Rebuilt:
    """Empty the read models and compute them again from every order."""
    for table in (order_figures, board_orders, volume_hours):
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
            conn.execute(insert(order_figures), figure_rows)
        if board_rows:
            conn.execute(insert(board_orders), board_rows)
        figures += len(figure_rows)
        board += len(board_rows)
    hours = volume_rows(counts, tz)
    if hours:
        conn.execute(insert(volume_hours), hours)
    return Rebuilt(figures, board, len(hours))


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
