"""The fold in batches equals the fold one message at a time, for any order and any cut."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mappers.events import PatientArrived, PatientsMerged, ProcedureStepUpdated
from store.fold.batch import Folding, fold_batch
from tests.store.fold.scenario import T0, MemoryStore, dump, messages

MESSAGES = messages()


def _order_free(events: tuple) -> bool:
    # An N-SET before its N-CREATE is refused (PS3.4 F.7.2.2); a merge moves what came before
    # it only; an arrival for one order counts for the patient's later orders only.
    first = events[0]
    return not isinstance(first, ProcedureStepUpdated | PatientsMerged) and not (
        isinstance(first, PatientArrived) and first.accession
    )


ORDER_FREE = [n for n, events in enumerate(MESSAGES) if _order_free(events)]


def _fold(store: MemoryStore, batches: list[list[int]]) -> None:
    for batch in batches:
        folded = fold_batch(
            store.tables, [Folding(number + 1, MESSAGES[number]) for number in batch], T0
        )
        store.take(folded.state)


def _cut(order: list[int], cuts: list[int]) -> list[list[int]]:
    bounds = sorted({c % (len(order) + 1) for c in cuts} | {0, len(order)})
    return [order[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(len(MESSAGES))),
    cuts=st.lists(st.integers(min_value=0, max_value=len(MESSAGES)), max_size=8),
)
def test_any_batches_give_the_rows_of_one_message_at_a_time(
    order: list[int], cuts: list[int]
) -> None:
    """Any interleaving, cut into any batches, folds to the rows of one message at a time."""
    one_by_one, batched = MemoryStore(), MemoryStore()
    _fold(one_by_one, [[number] for number in order])
    _fold(batched, _cut(order, cuts))
    assert dump(batched.tables, batched.appended) == dump(one_by_one.tables, one_by_one.appended)


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(ORDER_FREE))
def test_the_milestones_do_not_depend_on_arrival_order(order: list[int]) -> None:
    """Every order's milestones and status are the same whatever order messages come in."""
    expected, shuffled = MemoryStore(), MemoryStore()
    _fold(expected, [ORDER_FREE])
    _fold(shuffled, [[number] for number in order])

    def milestones(store: MemoryStore) -> dict:
        return {
            key: {k: v for k, v in row.items() if k.endswith("_at") or k == "status"}
            for key, row in store.tables["orders"].items()
        }

    assert milestones(shuffled) == milestones(expected)
