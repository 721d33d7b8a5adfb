"""Worklist answers kept per query shape and item: an unchanged item is encoded once, a changed
one anew, and what is kept stays within its bounds, the oldest going first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from fixtures.dicom import worklist_item, worklist_query
from listeners.dicom_worklist import EncodedAnswers
from mappers.dicom.worklist_encoding import WorklistEncoder, plan_worklist_answer
from mappers.dicom.worklist_model import WorklistItem


class _CountingEncoder(WorklistEncoder):
    """The real encoder, counting the items it encodes."""

    encoded: list[WorklistItem]

    def identifier(self, item: WorklistItem) -> bytes | None:
        self.encoded.append(item)
        return super().identifier(item)


def _encoder() -> _CountingEncoder:
    plan = plan_worklist_answer(worklist_query())
    encoder = _CountingEncoder(plan, facility_tz=UTC, implicit_vr=True, little_endian=True)
    encoder.encoded = []
    return encoder


def test_an_unchanged_item_is_encoded_once_and_answered_the_same() -> None:
    kept, encoder = EncodedAnswers(), _encoder()
    item = worklist_item()
    first = kept.answer(kept.of_shape("shape"), item, encoder)
    again = kept.answer(kept.of_shape("shape"), replace(item), encoder)  # equal, not the same
    assert first is not None
    assert again == first == _encoder().identifier(item)
    assert encoder.encoded == [item]


def test_a_changed_item_or_another_shape_is_encoded_anew() -> None:
    kept, encoder = EncodedAnswers(), _encoder()
    item = worklist_item()
    moved = replace(item, scheduled_station="CT02")
    kept.answer(kept.of_shape("shape"), item, encoder)
    changed = kept.answer(kept.of_shape("shape"), moved, encoder)
    kept.answer(kept.of_shape("other shape"), item, encoder)
    assert changed == _encoder().identifier(moved) != _encoder().identifier(item)
    assert encoder.encoded == [item, moved, item]


def test_the_oldest_go_first() -> None:
    kept, encoder = EncodedAnswers(capacity=2, shapes=2), _encoder()
    one, two, three = (worklist_item(accession=f"A{n}") for n in range(3))
    for item in (one, two, one, three):  # three in: one, the oldest kept, goes
        kept.answer(kept.of_shape("shape"), item, encoder)
    kept.answer(kept.of_shape("shape"), two, encoder)
    kept.answer(kept.of_shape("shape"), one, encoder)
    assert encoder.encoded == [one, two, three, one]
    kept.answer(kept.of_shape("second"), one, encoder)
    kept.answer(kept.of_shape("third"), one, encoder)  # past two shapes: "shape" goes
    kept.answer(kept.of_shape("shape"), two, encoder)
    assert encoder.encoded[-3:] == [one, one, two]
