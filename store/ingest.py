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
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import create_writer_engine
from store.errors import EventRejected, StoreError, StoreUnavailable
from store.inbound import Inbound, Outcome, Stored
from store.write import write_batch

log = logging.getLogger(__name__)


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
        store refused (EventRejected) is kept as rejected, with the reason."""
        if isinstance(error, EventRejected):
            refused = replace(
                item.inbound, outcome=Outcome.REJECTED, events=(), error=error.reason, ack_code=None
            )
            try:
                (result,) = await self._write([_Pending(refused, item.future)])
            except Exception as second:
                self._fail_all([item], second)
                return
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
        try:
            (result,) = await self._write([_Pending(failed, item.future)])
        except Exception as second:
            self._fail_all([item], second)
            return
        _resolve(item.future, result)

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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write, inbounds, now)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown()

    def _write(self, inbounds: list[Inbound], now: datetime) -> list[Stored]:
        with self._engine.begin() as conn:
            return _store_batch(conn, inbounds, now)


def _store_batch(conn: Connection, inbounds: list[Inbound], now: datetime) -> list[Stored]:
    return write_batch(conn, inbounds, now)


__all__ = ["Inbound", "Ingest", "Outcome", "StoreError", "StoreUnavailable", "Stored"]
