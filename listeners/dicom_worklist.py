"""The Modality Worklist SCP's pending answers: each item encoded in the presentation context's
transfer syntax, so that pynetdicom sends bytes instead of writing a Dataset per item
(`mappers/dicom/worklist_encoding.py`); C-CANCEL honoured between answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import tzinfo

from pydicom.dataset import Dataset
from pynetdicom import evt

from listeners.dicom_server import EncodedIdentifier
from mappers.dicom.worklist_encoding import (
    WorklistAnswerPlan,
    encode_worklist_identifier,
    encode_worklist_response,
)
from mappers.dicom.worklist_model import WorklistItem

PENDING = 0xFF00
CANCELLED = 0xFE00


def worklist_answers(
    event: evt.Event, items: list[WorklistItem], plan: WorklistAnswerPlan, *, facility_tz: tzinfo
) -> Iterator[tuple[int, Dataset | None]]:
    """A pending answer per item, or Cancel once the SCU sent C-CANCEL (PS3.4 C.4.1.3.2)."""
    syntax = event.context.transfer_syntax
    layout = {"implicit_vr": syntax.is_implicit_VR, "little_endian": syntax.is_little_endian}
    whole = not syntax.is_deflated  # a deflated context has pynetdicom deflate a Dataset
    for item in items:
        if event.is_cancelled:
            yield CANCELLED, None
            return
        encoded = encode_worklist_identifier(item, plan, facility_tz=facility_tz, **layout)
        if whole and encoded is not None:
            yield PENDING, EncodedIdentifier(encoded)
        else:
            yield PENDING, encode_worklist_response(item, plan, facility_tz=facility_tz, **layout)
