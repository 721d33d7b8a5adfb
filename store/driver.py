"""The writer's hot statements, rendered once per dialect and run on the DBAPI cursor.

For each statement it executes, SQLAlchemy finds the compiled form in its cache, builds a
parameter dictionary per row, processes every value and sets up a result; on the writer's
batches that was a quarter of the gateway's time (bench/README.md). Here a Core statement is
compiled once per dialect and parameter shape, and each execution is the driver's own
`execute` or `executemany` with plain tuples, the dialect's bind and result processors applied
only where a type has one. The statements keep their text; the cursor is the connection's own,
so they run in its transaction, and the driver's errors leave here as SQLAlchemy's, as they
would from `Connection.execute`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Executable, String, Table, bindparam, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from store.schema.base import UtcDateTime

Processor = Callable[[Any], Any] | None
Row = Mapping[str, Any]

# SQLAlchemy's mark for an IN list rendered at execution time (`expanding` parameters).
_EXPANDING = "__[POSTCOMPILE_{}]"
_EMPTY_SET = "SELECT 1 WHERE 0"  # SQLite: an IN list with nothing in it


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A statement compiled for one dialect and one set of parameter names."""

    sql: str
    names: tuple[str, ...]  # the parameter each placeholder takes, in order
    take: Callable[[Row], tuple[Any, ...]]  # the values of the names a row gives, in order
    constants: tuple[tuple[int, Any], ...]  # placeholders a row leaves out: column defaults
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]  # the dialect's bind processors
    expanding: Mapping[str, Processor]  # SQLite IN lists (one placeholder per value)
    columns: tuple[str, ...]
    results: tuple[Processor, ...]


# Statements are module constants or built by cached functions, so their ids stay theirs; the
# statement is kept beside its rendering all the same, so that an id is never reused.
_RENDERED: dict[tuple[int, str, tuple[str, ...]], tuple[Executable, _Rendered]] = {}


def rows(conn: Connection, statement: Executable, params: Row) -> list[dict[str, Any]]:
    """Run a SELECT (or a statement with RETURNING) once; its rows as dictionaries.

    Raises:
        sqlalchemy.exc.DBAPIError: what the driver raised, as `Connection.execute` raises it.
    """
    rendered = _render(statement, conn.dialect, tuple(params))
    sql, values = _bind(rendered, params)
    with _cursor(conn, sql, values, many=False) as cursor:
        cursor.execute(sql, values)
        fetched = cursor.fetchall()
    names, results = rendered.columns, rendered.results
    if not any(results):
        return [dict(zip(names, row, strict=True)) for row in fetched]
    return [
        {
            name: value if process is None or value is None else process(value)
            for name, value, process in zip(names, row, results, strict=True)
        }
        for row in fetched
    ]


def execute_many(conn: Connection, statement: Executable, params: Sequence[Row]) -> None:
    """Run a statement once per parameter row (the driver's executemany); every row has the
    first one's keys, as for `Connection.execute`.

    Raises:
        sqlalchemy.exc.DBAPIError: what the driver raised.
    """
    if not params:
        return
    rendered = _render(statement, conn.dialect, tuple(params[0]))
    if rendered.expanding:
        raise ValueError("an IN list takes one execution, not executemany")
    values = [_values(rendered, row) for row in params]
    with _cursor(conn, rendered.sql, values, many=True) as cursor:
        cursor.executemany(rendered.sql, values)


def insert_returning(
    conn: Connection, table: Table, params: Sequence[Row], returning: tuple[str, ...]
) -> list[dict[str, Any]]:
    """PostgreSQL: insert the rows with one statement whatever their number, returning the
    `returning` columns of each, ordered as the rows were given when the first is the id.

    The rows travel as one array per column (`INSERT ... SELECT FROM unnest(...)`), so the
    statement's text, and its prepared plan, is the same for every batch. They are inserted in
    the order given, so the ids the sequence hands out rise in that order, which is how
    SQLAlchemy itself matches RETURNING rows to parameters (`sort_by_parameter_order`).

    Raises:
        sqlalchemy.exc.DBAPIError: what the driver raised.
    """
    if not params:
        return []
    columns = tuple(params[0])
    statement = _unnest_insert(table, columns, returning)
    arrays = {name: [row[name] for row in params] for name in columns}
    found = rows(conn, statement, arrays)
    if returning[0] == "id":
        found.sort(key=lambda row: row["id"])
    return found


@functools.cache
def _unnest_insert(table: Table, columns: tuple[str, ...], returning: tuple[str, ...]) -> Any:
    unnested = (
        func.unnest(*(bindparam(c, type_=ARRAY(_unbounded(table.c[c].type))) for c in columns))
        .table_valued(*columns, with_ordinality="given")
        .render_derived()
    )
    source = select(*(unnested.c[c] for c in columns)).order_by(unnested.c.given)
    return (
        insert(table).from_select(list(columns), source).returning(*(table.c[c] for c in returning))
    )


def _unbounded(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    # A cast to VARCHAR(64) cuts a longer value short without a word; the column itself
    # refuses it (SQLSTATE 22001), which is what makes such a message a rejection.
    return String() if isinstance(type_, String) and type_.length is not None else type_


def _render(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Rendered:
    """The statement compiled for the dialect and the parameter names given (for an INSERT,
    the columns given: the others take their defaults)."""
    cache_key = (id(statement), dialect.name, keys)
    hit = _RENDERED.get(cache_key)
    if hit is not None and hit[0] is statement:
        return hit[1]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    # Columns whose default SQLAlchemy computes at execution (`default=""` and the like).
    defaults = {c.key: c.default for c in getattr(compiled, "insert_prefetch", ())}
    names = tuple(compiled.positiontup or ())
    constants = []
    processed = []
    expanding: dict[str, Processor] = {}
    for index, name in enumerate(names):
        param = compiled.binds[name]
        process = _bind_processor(param.type, dialect)
        if param.expanding:
            expanding[name] = process
            continue
        if name in keys:
            if process is not None:
                processed.append((index, process))
            continue
        if param.required and name not in defaults:
            raise ValueError(f"no value for {name!r}")
        default = defaults.get(name)
        if default is not None and not default.is_scalar:
            raise ValueError(f"{name!r} has a default computed per row")
        value = default.arg if default is not None else param.effective_value
        constants.append((index, value if process is None or value is None else process(value)))
    selected = getattr(statement, "selected_columns", None)
    if selected is None:  # INSERT ... RETURNING
        selected = getattr(statement, "_returning", ())
        columns = tuple(c.key for c in selected)
    else:
        columns = tuple(selected.keys())
        selected = list(selected)
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected)
    rendered = _Rendered(
        compiled.string,
        names,
        _taker(tuple(n for n in names if n in keys and n not in expanding)),
        tuple(constants),
        tuple(processed),
        expanding,
        columns,
        results,
    )
    _RENDERED[cache_key] = (statement, rendered)
    return rendered


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The dialect's bind processor for a type; on SQLite, our own for aware UTC times."""
    if dialect.name == "sqlite" and isinstance(type_, UtcDateTime):
        return sqlite_utc_text
    return type_.dialect_impl(dialect).bind_processor(dialect)


def sqlite_utc_text(value: datetime) -> str:
    """An aware time as SQLite's DATETIME text in UTC, as SQLAlchemy renders it
    (`YYYY-MM-DD HH:MM:SS.ffffff`), in one C call instead of two processors and a format.

    Raises:
        ValueError: the time is naive.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times are aware UTC")
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _taker(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    if len(names) == 1:
        (name,) = names
        return lambda row: (row[name],)
    return operator.itemgetter(*names) if names else lambda _: ()


def _values(rendered: _Rendered, row: Row) -> list[Any]:
    values = list(rendered.take(row))
    for index, value in rendered.constants:
        values.insert(index, value)
    # Every processor of these types keeps None as None; calling them for it (most of an
    # order's sixty columns) cost more than the values that are set.
    for index, process in rendered.processed:
        value = values[index]
        if value is not None:
            values[index] = process(value)
    return values


def _bind(rendered: _Rendered, params: Row) -> tuple[str, tuple[Any, ...]]:
    """The text and the values of one execution; IN lists get a placeholder per value."""
    if not rendered.expanding:
        return rendered.sql, tuple(_values(rendered, params))
    sql = rendered.sql
    constants = dict(rendered.constants)
    processors = dict(rendered.processed)
    values: list[Any] = []
    for index, name in enumerate(rendered.names):
        if name in rendered.expanding:
            items = list(params[name])
            process = rendered.expanding[name]
            values += items if process is None else [process(item) for item in items]
            marks = ", ".join("?" * len(items)) if items else _EMPTY_SET
            sql = sql.replace(_EXPANDING.format(name), marks)
        elif index in constants:
            values.append(constants[index])
        else:
            value, process = params[name], processors.get(index)
            values.append(value if process is None or value is None else process(value))
    return sql, tuple(values)


@contextmanager
def _cursor(conn: Connection, sql: str, values: Any, *, many: bool) -> Iterator[Any]:
    """The connection's own DBAPI cursor; the driver's errors raised as SQLAlchemy's (with the
    connection invalidated when the database is gone), so callers tell them apart as before."""
    dialect = conn.dialect
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as error:
        gone = dialect.is_disconnect(error, dbapi_connection, cursor)
        if gone:
            conn.invalidate(error)
        raise sa_exc.DBAPIError.instance(
            sql,
            values,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=conn.engine.hide_parameters,
            connection_invalidated=gone,
            dialect=dialect,
            ismulti=many,
        ) from error
    finally:
        cursor.close()
