"""The Modality Worklist SCP's pending answers: each item encoded in the presentation context's
transfer syntax, so that pynetdicom sends bytes instead of writing a Dataset per item
(`mappers/dicom/worklist_encoding.py`); C-CANCEL honoured between answers.

A modality asks the same question every few minutes, and most of its items have not changed
since: each item's answer is encoded once per query shape and kept (`EncodedAnswers`), keyed
by the item's every value, so a changed order is encoded anew and an unchanged one is not.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from datetime import tzinfo

from pydicom.dataset import Dataset
from pynetdicom import evt

from listeners.dicom_server import EncodedIdentifier
from mappers.dicom.worklist_encoding import (
    WorklistAnswerPlan,
    WorklistEncoder,
)
from mappers.dicom.worklist_model import WorklistItem

PENDING = 0xFF00
CANCELLED = 0xFE00


class EncodedAnswers:
    """Worklist answers already encoded, per query shape (the keys asked, the transfer syntax)
    and item; past `capacity` items of a shape, or `shapes` shapes, the oldest go first.

    Shared by the SCP's association threads: a kept answer is read without a lock (one dict
    lookup, one hash of the item), and only keeping a new one takes it."""

    def __init__(self, capacity: int = 20_000, shapes: int = 16) -> None:
        self._capacity = capacity
        self._shapes = shapes
        self._lock = threading.Lock()
        self._kept: dict[Hashable, dict[WorklistItem, bytes]] = {}

    def of_shape(self, shape: Hashable) -> dict[WorklistItem, bytes]:
        """The answers kept for one query shape (made when it is new): once per query."""
        with self._lock:
            answers = self._kept.pop(shape, None)
            if answers is None:
                answers = {}
            self._kept[shape] = answers  # the newest shape last
            if len(self._kept) > self._shapes:
                del self._kept[next(iter(self._kept))]
            return answers

    def answer(
        self,
        answers: dict[WorklistItem, bytes],
        item: WorklistItem,
        encoder: WorklistEncoder,
    ) -> bytes | None:
        """The item's answer among a shape's `answers`: kept, or encoded now and kept."""
        kept = answers.get(item)
        if kept is not None:
            return kept or None  # b"": kept as an item that cannot be encoded here
        encoded = encoder.identifier(item)
        with self._lock:
            answers[item] = encoded or b""
            if len(answers) > self._capacity:
                del answers[next(iter(answers))]
        return encoded


def worklist_answers(
    event: evt.Event,
    items: list[WorklistItem],
    plan: WorklistAnswerPlan,
    kept: EncodedAnswers,
    *,
    facility_tz: tzinfo,
) -> Iterator[tuple[int, Dataset | None]]:
    """A pending answer per item, or Cancel once the SCU sent C-CANCEL (PS3.4 C.4.1.3.2)."""
    syntax = event.context.transfer_syntax
    layout = {"implicit_vr": syntax.is_implicit_VR, "little_endian": syntax.is_little_endian}
    whole = not syntax.is_deflated  # a deflated context has pynetdicom deflate a Dataset
    encoder = WorklistEncoder(plan, facility_tz=facility_tz, **layout)
    answers = kept.of_shape(
        (plan.keys, plan.step, facility_tz, syntax.is_implicit_VR, syntax.is_little_endian)
    )
    for item in items:
        if event.is_cancelled:
            yield CANCELLED, None
            return
        encoded = kept.answer(answers, item, encoder) if whole else None
        if encoded is not None:
            yield PENDING, EncodedIdentifier(encoded)
        else:
            yield PENDING, encoder.response(item)
