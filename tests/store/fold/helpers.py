"""Folding a few messages over no rows, for the aggregates' unit tests."""

from __future__ import annotations

from mappers.events import Event
from store.fold.batch import Folded, Folding, fold_batch
from tests.store.fold.scenario import T0


def fold(*messages: tuple[Event, ...]) -> Folded:
    """Fold each tuple of events as one message (ids 1, 2, ...) over an empty store."""
    return fold_batch({}, [Folding(n, events) for n, events in enumerate(messages, 1)], T0)
