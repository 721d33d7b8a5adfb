"""Commit one batch, and keep one bad message from holding the others back.

Synchronous: it runs on the SQLite writer's own thread, or on the event loop inside a greenlet
(`greenlet_spawn`) for PostgreSQL, where the async engine's `sync_engine` awaits asyncpg.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from store.errors import Rejection, StoreUnavailable
from store.fold.batch import UTC_ZONE
from store.fold.outbox import NO_DESTINATIONS, Destinations
from store.inbound import Inbound, Outcome, Stored
from store.write import write_batch

log = logging.getLogger(__name__)

# Errors that say the database is out of reach rather than that a message is wrong.
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
    ConnectionError,
)
# PostgreSQL's deadlock_detected and serialization_failure: take the batch again.
_RETRY_STATES = {"40P01", "40001"}
_RETRIES = 3

Answer = Stored | StoreUnavailable


class WriterConnection:
    """The writer's one connection, kept from transaction to transaction.

    Checking a connection out of the pool and back in for every batch (the pool's reset, its
    bookkeeping, SQLAlchemy's connection set-up) cost a tenth of the writer's time at 16
    connections. After any error the connection is closed, so the next transaction starts on a
    fresh one, as it did when each batch took its own.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction on the kept connection: committed on leaving, rolled back on an error.

        Raises:
            Exception: whatever the block or the database raised (the connection is dropped).
        """
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self._engine.connect()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            self.close()
            raise

    def rehearse(self, work: Callable[[Connection], Any]) -> None:
        """Run `work` in a transaction on the kept connection, then roll it back.

        Raises:
            Exception: whatever `work` or the database raised (the connection is dropped).
        """
        with self.begin() as conn:
            work(conn)
            conn.get_transaction().rollback()  # type: ignore[union-attr]

    def close(self) -> None:
        """Give the connection back (closed); the next transaction opens another."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as error:  # a connection already gone cannot be closed cleanly
                log.debug("closing the writer's connection failed", exc_info=error)


def is_unavailable(error: BaseException) -> bool:
    """True when the error says the database is out of reach, not that a message is wrong."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _UNAVAILABLE) and not _retryable(error)


def _retryable(error: BaseException) -> bool:
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in _RETRY_STATES


def commit_batch(
    writer: WriterConnection,
    inbounds: Sequence[Inbound],
    now: datetime,
    destinations: Destinations = NO_DESTINATIONS,
    tz: ZoneInfo = UTC_ZONE,
) -> list[Answer]:
    """Store and apply a batch in one transaction; on an error, each message on its own
    (`tz`, the facility time zone, places the read models' days and hours)."""
    try:
        return list(_write(writer, inbounds, now, destinations, tz))
    except Exception as error:
        if is_unavailable(error):
            return _unavailable(len(inbounds), error)
        if len(inbounds) == 1:
            return [_record_failure(writer, inbounds[0], now, error)]
        log.warning(
            "batch of %d failed (%s); storing one by one", len(inbounds), type(error).__name__
        )
    answers: list[Answer] = []
    for inbound in inbounds:
        try:
            answers += _write(writer, [inbound], now, destinations, tz)
        except Exception as error:
            if is_unavailable(error):
                answers += _unavailable(1, error)
            else:
                answers.append(_record_failure(writer, inbound, now, error))
    return answers


def _write(
    writer: WriterConnection,
    inbounds: Sequence[Inbound],
    now: datetime,
    destinations: Destinations = NO_DESTINATIONS,
    tz: ZoneInfo = UTC_ZONE,
) -> list[Stored]:
    for attempt in range(_RETRIES):
        try:
            with writer.begin() as conn:
                return write_batch(conn, inbounds, now, destinations, tz)
        except sa_exc.DBAPIError as error:
            if not _retryable(error) or attempt == _RETRIES - 1:
                raise
            log.info("batch met another process's locks (%s); taking it again", error.code)
    raise AssertionError("unreachable")


def _record_failure(
    writer: WriterConnection, inbound: Inbound, now: datetime, error: Exception
) -> Answer:
    """Keep a message whose effects could not be stored, so it can be replayed (AE/CE); one
    holding a value the database cannot hold is kept as rejected (AR), since no resend can
    cure it."""
    if is_unstorable(error):
        reason = unstorable(error)
        refused = replace(inbound, outcome=Outcome.REJECTED, events=(), error=reason, ack_code=None)
        stored = _write_record(writer, refused, now)
        if isinstance(stored, Stored):
            return replace(stored, rejection=Rejection.UNSTORABLE_VALUE)
        return stored
    log.error(
        "applying message %s from %s failed: %s",
        inbound.control_id,
        inbound.peer,
        type(error).__name__,
    )
    log.debug("apply failure detail", exc_info=error)
    # The sender is told AE (original mode) or CE (enhanced mode): record the one it saw.
    code = "CE" if (inbound.ack_code or "").startswith("C") else "AE"
    failed = replace(
        inbound,
        outcome=Outcome.FAILED,
        events=(),
        error=f"{type(error).__name__}: {error}"[:2000],
        ack_code=code,
    )
    return _write_record(writer, failed, now)


def _write_record(writer: WriterConnection, record: Inbound, now: datetime) -> Answer:
    """Log a message that is not applied; if even its header values cannot be stored, log
    its raw bytes alone, so the message log never loses a message."""
    try:
        (stored,) = _write(writer, [record], now)
        return stored
    except Exception as error:
        if is_unavailable(error):
            return _unavailable(1, error)[0]
        bare = replace(record, **_HEADER_UNSET, error=f"{record.error} ({unstorable(error)})")
    try:
        (stored,) = _write(writer, [bare], now)
    except Exception as second:
        return _unavailable(1, second)[0]
    return stored


# The header values of a logged message, cleared when the database cannot hold them.
_HEADER_UNSET: dict[str, Any] = dict.fromkeys(
    (
        "sending_application",
        "sending_facility",
        "control_id",
        "message_type",
        "version",
        "charset",
        "error_location",
    )
)


def is_unstorable(error: BaseException) -> bool:
    """True when the database refused a value itself (SQLSTATE class 22, data exception:
    too long, out of range, NUL), which no resend can cure."""
    if isinstance(error, sa_exc.DataError):
        return True
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state.startswith("22")


def unstorable(error: BaseException) -> str:
    """Why the database refused a value, without the value (it may be patient data)."""
    cause = getattr(error, "orig", None) or error
    return f"a value the store cannot hold ({type(cause).__name__})"


def _unavailable(count: int, error: BaseException) -> list[Answer]:
    log.error("store unavailable, %d message(s) not stored: %s", count, type(error).__name__)
    log.debug("store error detail", exc_info=error)
    return [StoreUnavailable(f"store unavailable: {type(error).__name__}")] * count
