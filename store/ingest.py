"""Durable intake with group commit: every change, one writer, one transaction per batch.

Listeners, replay and operator actions hand each inbound message (with its events) to
`Ingest.submit` from the event loop, or to `Ingest.submit_threadsafe` from another thread
(pynetdicom's handlers). One writer takes everything queued, stores and applies it in a single
transaction (store/write.py), commits, and only then answers every submitter, so an
acknowledgement always follows a commit and the commit's fsync is shared by the batch.

On SQLite the writer is a thread of its own with a synchronous engine: handler threads queue
to it and are answered by it directly, with no hop through the event loop. On PostgreSQL the
writer is a task on the event loop, running the same synchronous code inside a greenlet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from store.commit import Answer, WriterConnection, commit_batch
from store.commits import CommitFeed
from store.engine import create_postgres_writer_engine, create_writer_engine
from store.errors import StoreError, StoreUnavailable
from store.fold.batch import UTC_ZONE
from store.fold.outbox import NO_DESTINATIONS, Destinations
from store.inbound import Inbound, Outcome, Stored
from store.probe import touch
from store.queued import Pending, Work, run_work, touch_in_transaction
from store.rehearsal import rehearse_orders
from store.senders import LINGER, Linger, Senders
from store.settle import settle, settle_all
from store.write import identity

log = logging.getLogger(__name__)
T = TypeVar("T")


_STOP = None


class Ingest:
    """The single writer that stores inbound messages in shared transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        timeout: float,
        max_batch: int = 500,
        linger: float = LINGER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_batch: Callable[[int], None] | None = None,
        destinations: Destinations = NO_DESTINATIONS,
        tz: ZoneInfo = UTC_ZONE,
    ) -> None:
        self._engine = engine
        self._tz = tz  # the facility time zone: the read models' days and hours
        # The outbound destinations: every batch writes what it owes them (store.fold.outbox).
        self._destinations = destinations
        self._timeout = timeout
        url = engine.url.render_as_string(hide_password=False)
        self._sqlite = create_writer_engine(url, busy_timeout=timeout)
        self._postgres = (
            create_postgres_writer_engine(url, busy_timeout=timeout)
            if self._sqlite is None and engine.dialect.name == "postgresql"
            else None
        )
        self._max_batch = max_batch
        self._on_batch = on_batch  # told each batch's size (the metrics' histogram)
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        # SQLite: the writer thread's queue; PostgreSQL: the writer task's.
        self._thread_queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._loop_queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._carried: list[Pending] = []
        self._senders = Senders()
        # Only one of the queues is used: the thread's on SQLite, the task's on PostgreSQL.
        self._lingering = Linger(
            linger, lambda: self._thread_queue.qsize() + self._loop_queue.qsize()
        )
        self._open = False
        # Readers that show the department live wait on this for the next commit.
        self.commits = CommitFeed()

    async def start(self) -> None:
        """Start the writer."""
        self._loop = asyncio.get_running_loop()
        self.commits.bind(self._loop)
        if self._sqlite is not None:
            self._thread = threading.Thread(
                target=self._run_thread, name="ingest-writer", daemon=True
            )
            self._thread.start()
        else:
            self._task = asyncio.create_task(self._run_task(), name="ingest-writer")
        self._open = True

    async def close(self) -> None:
        """Store what is queued, then stop; later submissions get StoreUnavailable."""
        if not self._open:
            return  # closing twice, or before start, is harmless
        self._open = False
        if self._thread is not None:
            self._thread_queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
            assert self._sqlite is not None
            self._sqlite.dispose()
        if self._task is not None:
            self._loop_queue.put_nowait(_STOP)
            await self._task
            self._task = None
        if self._postgres is not None:
            await self._postgres.dispose()

    async def submit(self, inbound: Inbound) -> Stored:
        """Store the message and apply its events; return once committed.

        Raises:
            StoreUnavailable: nothing was stored (database out of reach, or shutting down).
            StoreError: the message could not be stored even on its own.
        """
        if not self._open:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        pending = Pending(inbound, future=future)
        if self._thread is not None:
            self._thread_queue.put(pending)
            self._lingering.tell()
        else:
            self._enqueue(pending)
        return await future

    async def run(self, work: Callable[[Connection], T], *, rehearsal: bool = False) -> T:
        """Run `work` on the writer, between batches, in one transaction; its result. With
        `rehearsal`, the transaction is rolled back (the writer's caches stay warm).

        Raises:
            StoreUnavailable: the store is closed.
            Exception: whatever `work` raises (its transaction is rolled back).
        """
        if not self._open:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        item = Work(work, future, rehearsal)
        if self._thread is not None:
            self._thread_queue.put(item)  # type: ignore[arg-type]
        else:
            self._loop_queue.put_nowait(item)  # type: ignore[arg-type]
        return await future

    async def rehearse(self) -> None:
        """Write made-up new orders and roll them back, so the first real batch finds the
        writer warm (store/rehearsal.py); a failure is only logged: real batches report it."""
        now, tz = self._clock(), self._tz
        work = partial(rehearse_orders, now=now, destinations=self._destinations, tz=tz)
        try:
            await self.run(work, rehearsal=True)
        except Exception as error:
            log.warning("the writer's rehearsal failed: %s", type(error).__name__)

    def submit_threadsafe(self, inbound: Inbound) -> concurrent.futures.Future[Stored]:
        """Queue the message from any thread; the future is answered after the commit."""
        future: concurrent.futures.Future[Stored] = concurrent.futures.Future()
        if not self._open or self._loop is None:
            future.set_exception(StoreUnavailable("the store is closed"))
            return future
        pending = Pending(inbound, thread_future=future)
        if self._thread is not None:
            self._thread_queue.put(pending)
            self._lingering.tell()
        else:
            self._loop.call_soon_threadsafe(self._enqueue, pending)
        return future

    def _enqueue(self, pending: Pending) -> None:
        """Queue for the writer task (PostgreSQL), and tell a lingering writer."""
        self._loop_queue.put_nowait(pending)
        self._lingering.tell()

    async def touch(self) -> None:
        """One real write that changes nothing, on the writer's engine (readiness): it meets
        the same lock, disk and connection as every batch.

        Raises:
            Exception: whatever the database raises when it refuses the write.
        """
        if self._sqlite is not None:
            await asyncio.to_thread(touch_in_transaction, self._sqlite)
            return
        async with asyncio.timeout(self._timeout), (self._postgres or self._engine).begin() as conn:
            await conn.run_sync(touch)

    # --- the writer ------------------------------------------------------------------

    def _run_thread(self) -> None:
        assert self._sqlite is not None
        writer = WriterConnection(self._sqlite)
        try:
            self._write_batches(writer)
        finally:
            writer.close()
        self._refuse_late(self._thread_queue.get_nowait)

    def _write_batches(self, writer: WriterConnection) -> None:
        stopping = False
        while not stopping or self._carried:
            first = self._carried.pop(0) if self._carried else self._thread_queue.get()
            if first is _STOP:
                stopping = True
                continue
            if isinstance(first, Work):
                self._settle_work(first, writer)
                continue
            self._lingering.wait(self._wanted())
            batch, stopping = self._gather(first, self._thread_queue.get_nowait, stopping)
            self._saw([p.inbound for p in batch])
            answers = commit_batch(
                writer,
                [p.inbound for p in batch],
                self._clock(),
                self._destinations,
                self._tz,
            )
            self._answer(batch, answers)

    async def _run_task(self) -> None:
        writer = WriterConnection((self._postgres or self._engine).sync_engine)
        stopping = False
        while not stopping or self._carried:
            first = self._carried.pop(0) if self._carried else await self._loop_queue.get()
            if first is _STOP:
                stopping = True
                continue
            if isinstance(first, Work):
                try:
                    async with asyncio.timeout(self._timeout):
                        result = await greenlet_spawn(run_work, writer, first)
                except Exception as exc:
                    settle(first.future, exc)
                else:
                    settle(first.future, result)
                continue
            await self._lingering.wait_async(self._wanted())
            batch, stopping = self._gather(first, self._loop_queue.get_nowait, stopping)
            inbounds = [p.inbound for p in batch]
            self._saw(inbounds)
            try:
                async with asyncio.timeout(self._timeout):
                    answers = await greenlet_spawn(
                        commit_batch,
                        writer,
                        inbounds,
                        self._clock(),
                        self._destinations,
                        self._tz,
                    )
            except TimeoutError:
                answers = [StoreUnavailable("store unavailable: TimeoutError")] * len(batch)
            self._answer(batch, answers)
        await greenlet_spawn(writer.close)
        self._refuse_late(self._loop_queue.get_nowait)

    def _wanted(self) -> int:
        """How many more queued messages the next batch expects (besides the first and those
        carried over); 0 when it expects none."""
        expected = self._senders.expected()
        return expected - 1 - len(self._carried) if expected >= 2 else 0

    def _saw(self, inbounds: list[Inbound]) -> None:
        self._senders.saw(inbounds)
        if self._on_batch is not None:
            self._on_batch(len(inbounds))

    def _refuse_late(self, take: Callable[[], Pending | None]) -> None:
        """Answer what was queued while the writer stopped: nothing of it was stored."""
        late = []
        while True:
            try:
                item = take()
            except (queue.Empty, asyncio.QueueEmpty):
                break
            if item is not None:
                late.append(item)
        self._answer(late, [StoreUnavailable("the store is closed")] * len(late))

    def _gather(
        self, first: Pending, take: Callable[[], Pending | None], stopping: bool
    ) -> tuple[list[Pending], bool]:
        """The batch: what is queued, up to the limit, each message identity once (a resend
        racing its original waits for the next batch, so it is seen as the duplicate)."""
        batch = [first]
        seen = {identity(first.inbound)}
        carried, self._carried = self._carried, []
        for index, item in enumerate(carried):
            if isinstance(item, Work):  # work waits its turn: it runs after this batch
                self._carried.extend(carried[index:])
                return batch, stopping
            self._add(batch, seen, item)
        while not stopping and len(batch) < self._max_batch:
            try:
                item = take()
            except (queue.Empty, asyncio.QueueEmpty):
                break
            if item is _STOP:
                stopping = True
                break
            if isinstance(item, Work):
                self._carried.append(item)
                break
            self._add(batch, seen, item)
        return batch, stopping

    def _add(self, batch: list[Pending], seen: set, item: Pending) -> None:
        key = identity(item.inbound)
        if (None not in key[:3] and key in seen) or len(batch) >= self._max_batch:
            self._carried.append(item)
            return
        seen.add(key)
        batch.append(item)

    def _answer(self, batch: list[Pending], answers: list[Answer]) -> None:
        """Answer thread submitters at once, event-loop ones with one hop for the batch; then
        tell the commit feed, when anything was stored."""
        stored = any(isinstance(answer, Stored) for answer in answers)
        on_loop = []
        for item, answer in zip(batch, answers, strict=True):
            if item.thread_future is not None:
                settle(item.thread_future, answer)
            else:
                on_loop.append((item.future, answer))
        if self._thread is not None and threading.current_thread() is self._thread:
            assert self._loop is not None
            if stored:  # no hop for it: the feed wakes the loop only for a waiting reader
                self.commits.bump_threadsafe()
            if on_loop:
                # One hop for the batch: each wakes the loop through its self-pipe, a write
                # that took as long as a batch's statements on a busy machine.
                self._loop.call_soon_threadsafe(settle_all, on_loop)
        elif on_loop or stored:
            self._settle_on_loop(on_loop, stored)

    def _settle_on_loop(self, on_loop: list[tuple[Any, Answer]], stored: bool) -> None:
        if stored:
            self.commits.bump()
        settle_all(on_loop)

    def _settle_work(self, item: Work, writer: WriterConnection) -> None:
        """Run a work item on the writer's thread and answer its submitter on the loop."""
        assert self._loop is not None
        try:
            outcome: Any = run_work(writer, item)
        except Exception as exc:
            outcome = exc
        self._loop.call_soon_threadsafe(settle, item.future, outcome)


__all__ = ["Inbound", "Ingest", "Outcome", "StoreError", "StoreUnavailable", "Stored"]
