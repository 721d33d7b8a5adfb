"""The DICOM handlers' answers and message-log records: status datasets, the MPPS answer for
what the store did, and how each DIMSE request is kept in the message log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import evt

from listeners.dicom_bulk import BULK_LIMIT
from listeners.dicom_server import peer
from mappers.dicom import errors as status
from mappers.events import Event
from store.errors import Rejection
from store.ingest import Inbound, Outcome, Stored

SUCCESS = 0x0000


def status_of(answer: int | Dataset) -> int:
    return int(answer.Status) if isinstance(answer, Dataset) else int(answer)


def failure(code: int, comment: str) -> Dataset:
    """A status with an Error Comment (LO: at most 64 characters)."""
    answer = Dataset()
    answer.Status = code
    answer.ErrorComment = comment[:64]
    return answer


def inbound_record(
    operation: str, calling: str, event: evt.Event, at: datetime, raw: bytes
) -> Inbound:
    return Inbound(
        protocol="dicom",
        received_at=at,
        peer=peer(event),
        raw=raw,
        outcome=Outcome.APPLIED,
        sending_application=calling,
        sending_facility="",
        message_type=operation,
    )


def with_events(inbound: Inbound, events: Sequence[Event], control_id: str) -> Inbound:
    """The message with its events and its key (SOP Instance UID, or operation and UID)."""
    return replace(inbound, events=tuple(events), control_id=control_id or None)


def head_of(received: Path) -> bytes:
    """The first bytes of an unreadable data set, for the message log."""
    with received.open("rb") as fh:
        return fh.read(BULK_LIMIT)


def encode_attributes(dataset: Dataset | None) -> bytes:
    """A DIMSE dataset's text for the message log (MPPS attribute lists are small)."""
    if dataset is None:
        return b""
    text = "\n".join(str(element) for element in dataset)
    return text.encode("utf-8", "replace")


def mpps_answer(stored: Stored | None, *, creating: bool = True) -> int | Dataset:
    """The N-CREATE or N-SET answer for what the store did (PS3.4 F.7.2)."""
    if stored is None:
        return failure(status.PROCESSING_FAILURE, "storage unavailable; resend")
    if creating and stored.duplicate:
        return failure(status.DUPLICATE_SOP_INSTANCE, "procedure step exists already")
    match stored.rejection:
        case Rejection.DUPLICATE:
            return failure(status.DUPLICATE_SOP_INSTANCE, "procedure step exists already")
        case Rejection.UNKNOWN_INSTANCE:
            return failure(status.NO_SUCH_OBJECT_INSTANCE, "no such procedure step")
        case Rejection.NOT_UPDATABLE:
            # PS3.4 F.7.2.2.2: "may no longer be updated" is a processing failure.
            return failure(status.PROCESSING_FAILURE, "step may no longer be updated")
        case Rejection.UNSTORABLE_VALUE:
            return failure(status.INVALID_ATTRIBUTE_VALUE, "a value cannot be stored")
    if stored.outcome is Outcome.FAILED:
        return failure(status.PROCESSING_FAILURE, "procedure step could not be applied")
    return SUCCESS
