"""What the ingest writer's queue holds besides a stop: messages waiting for a batch, and
store work that runs between batches (store/ingest.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from store.commit import WriterConnection
from store.inbound import Inbound, Stored
from store.probe import touch as _touch_probe


@dataclass(slots=True)
class Pending:
    """A message waiting for a batch, and whom to answer once it is committed."""

    inbound: Inbound
    # Exactly one: an event-loop submitter's future, or a thread submitter's.
    future: asyncio.Future[Stored] | None = None
    thread_future: concurrent.futures.Future[Stored] | None = None


@dataclass(slots=True)
class Work:
    """Store work other than a message (pruning, audit records): the writer runs it between
    batches, in a transaction of its own, so nothing else ever opens a write transaction."""

    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    rehearsal: bool = False  # rolled back once done (store/rehearsal.py)


def run_work(writer: WriterConnection, item: Work) -> Any:
    """Run a work item in a transaction of its own (rolled back for a rehearsal); its result."""
    if item.rehearsal:
        return writer.rehearse(item.work)
    with writer.begin() as conn:
        return item.work(conn)


def touch_in_transaction(engine: Engine) -> None:
    """One write that changes nothing, in a transaction of its own (readiness)."""
    with engine.begin() as conn:
        _touch_probe(conn)
