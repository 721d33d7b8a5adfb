"""The Instance Availability Notification SCP (PS3.4 Annex R, IHE RAD-49): decode, map, store,
then answer, like every DICOM handler; `listeners/dicom.py` routes N-CREATEs of its SOP class
here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydicom.dataset import Dataset
from pynetdicom import evt

from listeners.dicom_answers import SUCCESS, encode_attributes, failure, inbound_record, with_events
from listeners.dicom_server import calling_ae
from mappers.dicom import errors as status
from mappers.dicom.availability import map_availability
from mappers.dicom.errors import DicomMappingError
from store.errors import Rejection
from store.ingest import Inbound, Outcome, Stored

log = logging.getLogger("listeners.dicom")

OPERATION = "IAN"  # the message log's type for these notifications
Submit = Callable[[Inbound], Stored | None]
Refuse = Callable[[Inbound, DicomMappingError], Dataset]


def on_availability(
    event: evt.Event, *, submit: Submit, refuse: Refuse, received_at: datetime
) -> tuple[int | Dataset, Dataset | None]:
    """Answer an IAN N-CREATE once what it says is committed (PS3.4 R.3.1, PS3.7 10.1.5)."""
    calling = calling_ae(event)
    attributes = event.attribute_list
    sop_instance_uid = str(event.request.AffectedSOPInstanceUID or "")
    control_id = f"{OPERATION}:{sop_instance_uid}"
    inbound = inbound_record(OPERATION, calling, event, received_at, encode_attributes(attributes))
    if not sop_instance_uid:
        error = DicomMappingError(
            "the SCU must give the SOP Instance UID (PS3.4 R.3.1)",
            status.MISSING_ATTRIBUTE,
            tag="Affected SOP Instance UID",
        )
        return refuse(inbound, error), None
    try:
        events = map_availability(attributes, calling_ae=calling, received_at=received_at)
    except DicomMappingError as exc:
        return refuse(with_events(inbound, (), control_id), exc), None
    except Exception as exc:  # an attribute pydicom cannot decode when it is read
        log.warning("IAN from %s unreadable: %s", calling, type(exc).__name__)
        error = DicomMappingError("attribute list cannot be read", status.PROCESSING_FAILURE)
        return refuse(with_events(inbound, (), control_id), error), None
    stored = submit(with_events(inbound, events, control_id))
    answer = availability_answer(stored)
    if answer == SUCCESS:
        log.info("IAN %s from %s: %d instances available", sop_instance_uid, calling, len(events))
    return answer, (attributes if answer == SUCCESS else None)


def availability_answer(stored: Stored | None) -> int | Dataset:
    """The N-CREATE answer for what the store did. The same notification again is a success
    that changes nothing: a PACS resends when an answer was lost."""
    if stored is None:
        return failure(status.PROCESSING_FAILURE, "storage unavailable; resend")
    if stored.rejection is Rejection.UNSTORABLE_VALUE or stored.outcome is Outcome.REJECTED:
        return failure(status.INVALID_ATTRIBUTE_VALUE, "a value cannot be stored")
    if stored.outcome is Outcome.FAILED:
        return failure(status.PROCESSING_FAILURE, "notification could not be applied")
    return SUCCESS
