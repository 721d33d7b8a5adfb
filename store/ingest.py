"""Durable intake with group commit: many connections, one transaction, then every answer.

Listeners hand each inbound message (with its mapped events) to `Ingest.submit` and wait. One
writer task takes everything queued, stores and applies it in a single transaction, commits,
and only then resolves the waiting submitters, so an acknowledgement always follows a commit,
and the cost of the commit (an fsync) is shared by every message in the batch.

A batch that fails for a reason in one message (a constraint, a value too long) is retried
message by message, so one bad message cannot hold the others back. A batch that fails
because the database is out of reach fails every message in it with `StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Boolean, Connection, Engine, Executable, and_, bindparam, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from mappers.events import Event
from store.apply import apply_events
from store.dialect import upsert
from store.engine import create_writer_engine
from store.errors import EventRejected, Rejection, StoreError, StoreUnavailable
from store.probe import touch
from store.schema import messages

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outcome(StrEnum):
    """What became of an inbound message, as the message log records it."""

    APPLIED = "applied"  # mapped and applied to the workflow tables
    NOT_MAPPED = "not_mapped"  # accepted and kept; no mapping for its type yet
    REJECTED = "rejected"  # refused (AR/CR); kept with the error
    FAILED = "failed"  # accepted by the mapper, but applying it failed (AE/CE); kept

    @property
    def accepted(self) -> bool:
        """True when the sender was told the message is safe (AA/CA)."""
        return self in (Outcome.APPLIED, Outcome.NOT_MAPPED)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as received, with what the mappers made of it."""

    protocol: str
    received_at: datetime
    peer: str
    raw: bytes
    outcome: Outcome
    events: Sequence[Event] = ()
    charset: str | None = None
    sending_application: str | None = None
    sending_facility: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    version: str | None = None
    ack_code: str | None = None
    error: str | None = None
    error_location: str | None = None
    # An operator's replay: a message kept earlier without being applied is processed afresh.
    replay: bool = False

    @property
    def content_sha256(self) -> str:
        """The identity of the content; trailing whitespace is not part of it."""
        return hashlib.sha256(self.raw.rstrip(b"\r\n\t \x00")).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store did with a submitted message."""

    message_id: int
    outcome: Outcome
    duplicate: bool  # the same message had been accepted before; nothing changed
    control_id_reused: bool  # another message from the same sender carried this control id
    rejection: Rejection | None = None  # why the store refused its events, when it did


@dataclass(slots=True)
class _Pending:
    inbound: Inbound
    future: asyncio.Future[Stored]


# Errors that say the database is out of reach rather than that a message is wrong.
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
    ConnectionError,
)


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _UNAVAILABLE)


class Ingest:
    """The single writer that stores inbound messages in shared transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        timeout: float,
        max_batch: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._timeout = timeout
        writer_engine = create_writer_engine(str(engine.url), busy_timeout=timeout)
        self._thread = _WriterThread(writer_engine) if writer_engine is not None else None
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def close(self) -> None:
        """Store what is queued, then stop; later submissions get StoreUnavailable."""
        self._closing = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._thread is not None:
            await self._thread.close()
            self._thread = None  # closing twice is harmless

    async def submit(self, inbound: Inbound) -> Stored:
        """Store the message and apply its events; return once committed.

        Raises:
            StoreUnavailable: nothing was stored (database out of reach, or shutting down).
            StoreError: the message could not be stored even on its own.
        """
        if self._closing or self._task is None:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(inbound, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit_batch(batch)
            if stop:
                return

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        # A submitter that went away (its connection closed) no longer needs an answer, but
        # its message is still stored: the sender may have seen nothing and will resend.
        try:
            results = await self._write(batch)
        except Exception as error:
            if _is_unavailable(error):
                self._fail_all(batch, error)
                return
            if len(batch) == 1:
                await self._record_failure(batch[0], error)
                return
            log.warning(
                "batch of %d failed (%s); storing one by one", len(batch), type(error).__name__
            )
            for item in batch:
                await self._commit_one(item)
            return
        for item, result in zip(batch, results, strict=True):
            _resolve(item.future, result)

    async def _commit_one(self, item: _Pending) -> None:
        try:
            (result,) = await self._write([item])
        except Exception as error:
            if _is_unavailable(error):
                self._fail_all([item], error)
                return
            await self._record_failure(item, error)
            return
        _resolve(item.future, result)

    async def _record_failure(self, item: _Pending, error: Exception) -> None:
        """Keep a message whose effects could not be applied, so it can be replayed; one the
        store refused (EventRejected, or a value the database cannot hold) is kept as
        rejected, with the reason."""
        if _is_unstorable(error):
            error = EventRejected(Rejection.UNSTORABLE_VALUE, _unstorable(error))
        if isinstance(error, EventRejected):
            refused = replace(
                item.inbound, outcome=Outcome.REJECTED, events=(), error=error.reason, ack_code=None
            )
            result = await self._write_record(item, refused)
            if result is not None:
                _resolve(item.future, replace(result, rejection=error.kind))
            return
        log.error(
            "applying message %s from %s failed: %s",
            item.inbound.control_id,
            item.inbound.peer,
            type(error).__name__,
        )
        log.debug("apply failure detail", exc_info=error)
        failed = _replace_outcome(item.inbound, Outcome.FAILED, f"{type(error).__name__}: {error}")
        result = await self._write_record(item, failed)
        if result is not None:
            _resolve(item.future, result)

    async def _write_record(self, item: _Pending, record: Inbound) -> Stored | None:
        """Log a message that is not applied; if even its header values cannot be stored,
        log its raw bytes alone, so the message log never loses a message. None when the
        store is out of reach (every waiter then has its StoreUnavailable)."""
        try:
            (result,) = await self._write([_Pending(record, item.future)])
            return result
        except Exception as error:
            if _is_unavailable(error):
                self._fail_all([item], error)
                return None
            bare = replace(record, **_HEADER_UNSET, error=f"{record.error} ({_unstorable(error)})")
        try:
            (result,) = await self._write([_Pending(bare, item.future)])
        except Exception as error:
            self._fail_all([item], error)
            return None
        return result

    async def touch(self) -> None:
        """One real write that changes nothing, in the writer's own way (readiness).

        Raises:
            Exception: whatever the database raises when it refuses the write.
        """
        if self._thread is not None:
            await self._thread.run(touch)
            return
        async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
            await conn.run_sync(touch)

    async def _write(self, batch: list[_Pending]) -> list[Stored]:
        inbounds = [item.inbound for item in batch]
        now = self._clock()
        if self._thread is not None:
            return await self._thread.write(inbounds, now)
        async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
            return await conn.run_sync(_store_batch, inbounds, now)

    def _fail_all(self, batch: list[_Pending], error: BaseException) -> None:
        log.error(
            "store unavailable, %d message(s) not stored: %s", len(batch), type(error).__name__
        )
        log.debug("store error detail", exc_info=error)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(
                    StoreUnavailable(f"store unavailable: {type(error).__name__}")
                )


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


def _is_unstorable(error: BaseException) -> bool:
    """True when the database refused a value itself (SQLSTATE class 22, data exception:
    too long, out of range, NUL), which no resend can cure."""
    if isinstance(error, sa_exc.DataError):
        return True
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state.startswith("22")


def _unstorable(error: BaseException) -> str:
    """Why the database refused a value, without the value (it may be patient data)."""
    cause = getattr(error, "orig", None) or error
    return f"a value the store cannot hold ({type(cause).__name__})"


def _resolve(future: asyncio.Future[Stored], result: Stored) -> None:
    if not future.done():
        future.set_result(result)


def _replace_outcome(inbound: Inbound, outcome: Outcome, error: str) -> Inbound:
    # The sender is told AE (original mode) or CE (enhanced mode): record the one it saw.
    code = "CE" if (inbound.ack_code or "").startswith("C") else "AE"
    return replace(inbound, outcome=outcome, events=(), error=error[:2000], ack_code=code)


class _WriterThread:
    """SQLite: each batch runs in one call, in one transaction, on a thread of its own.

    SQLite's busy timeout bounds the wait for the write lock; a batch is not abandoned
    half-way on a timer, so what it commits is what the answers say.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # One thread, so batches commit in order and the sqlite3 connection stays on it.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")

    async def write(self, inbounds: list[Inbound], now: datetime) -> list[Stored]:
        return await self.run(functools.partial(_store_batch, inbounds=inbounds, now=now))

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction on the writer's thread, after what is queued."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown()

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)


def _store_batch(conn: Connection, inbounds: list[Inbound], now: datetime) -> list[Stored]:
    return [_store(conn, inbound, now) for inbound in inbounds]


def _store(conn: Connection, inbound: Inbound, now: datetime) -> Stored:
    """Log the message (or count a resend), then apply its events: one message's work."""
    sha = inbound.content_sha256
    row = {
        "protocol": inbound.protocol,
        "received_at": inbound.received_at,
        "last_received_at": inbound.received_at,
        "receive_count": 1,
        "peer": inbound.peer,
        "sending_application": inbound.sending_application,
        "sending_facility": inbound.sending_facility,
        "control_id": inbound.control_id,
        "content_sha256": sha,
        "message_type": inbound.message_type,
        "version": inbound.version,
        "charset": inbound.charset,
        "raw": inbound.raw,
        "outcome": inbound.outcome.value,
        "ack_code": inbound.ack_code,
        "error": inbound.error,
        "error_location": inbound.error_location,
    }
    params = {f"v_{name}": value for name, value in row.items()}
    # Only HL7 engines reset MSH-10 counters; a DICOM key (a UID) is never reused.
    params["r_check"] = inbound.protocol == "hl7v2" and None not in (
        inbound.sending_application,
        inbound.sending_facility,
        inbound.control_id,
    )
    statement = _message_upsert(conn.dialect.name)
    message_id, receive_count, stored_outcome, reused = conn.execute(statement, params).one()

    if receive_count > 1:
        previous = Outcome(stored_outcome)
        if previous.accepted and not (inbound.replay and previous is not Outcome.APPLIED):
            # The same message again (HL7 v2 2.9.2 "duplicate"): acknowledged, not re-applied.
            return Stored(message_id, previous, duplicate=True, control_id_reused=reused)
        # Refused or failed before: this sending is processed afresh.
        conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(
                outcome=inbound.outcome.value,
                ack_code=inbound.ack_code,
                error=inbound.error,
                error_location=inbound.error_location,
            )
        )

    if inbound.outcome is Outcome.APPLIED:
        apply_events(conn, inbound.events, message_id=message_id, now=now)
    return Stored(message_id, inbound.outcome, duplicate=False, control_id_reused=reused)


_MESSAGE_COLUMNS = (
    "protocol",
    "received_at",
    "last_received_at",
    "receive_count",
    "peer",
    "sending_application",
    "sending_facility",
    "control_id",
    "content_sha256",
    "message_type",
    "version",
    "charset",
    "raw",
    "outcome",
    "ack_code",
    "error",
    "error_location",
)


@functools.cache
def _message_upsert(dialect: str) -> Executable:
    """The message log upsert with bind parameters, built once per dialect (building it for
    every message cost more than running it)."""
    values: dict[str, Any] = {
        name: bindparam(f"v_{name}", type_=messages.c[name].type) for name in _MESSAGE_COLUMNS
    }
    # A control id this sender used before for other content: engines reset their counters.
    # Such a message is new and is processed, but the integration team should see it. The
    # check is part of the insert, so it costs no statement of its own.
    earlier = select(messages.c.id).where(
        messages.c.sending_application == bindparam("v_sending_application"),
        messages.c.sending_facility == bindparam("v_sending_facility"),
        messages.c.control_id == bindparam("v_control_id"),
    )
    values["control_id_reused"] = and_(bindparam("r_check", type_=Boolean()), earlier.exists())
    statement = upsert(dialect, messages).values(values)
    return statement.on_conflict_do_update(
        index_elements=["sending_application", "sending_facility", "control_id", "content_sha256"],
        set_={
            "receive_count": messages.c.receive_count + 1,
            "last_received_at": statement.excluded.last_received_at,
        },
    ).returning(
        messages.c.id, messages.c.receive_count, messages.c.outcome, messages.c.control_id_reused
    )


__all__ = ["Inbound", "Ingest", "Outcome", "StoreError", "StoreUnavailable", "Stored"]
