"""How long each value of the vocabulary may be: the longest the workflow store keeps.

PostgreSQL refuses a value longer than its column, and SQLite keeps it: the same message would
be stored on one and refused on the other. The mappers check every event against this one
table instead, so a value too long is refused on both stores alike, naming the field, and a
resend (which cannot succeed) is never invited. `store/schema/` sizes its columns to these
(tests/store/test_limits.py checks that they agree).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from types import MappingProxyType

from mappers import events as ev

IDENTIFIER = 64  # identifiers, codes, UIDs: DICOM LO and UI are at most 64 characters
NAME_PART = 128  # one part of a person's name
NAME_AFFIX = 32  # a prefix or suffix (DR, JR)
SHORT_CODE = 16  # a modality, priority or AE title (DICOM CS, AE)
DESCRIPTION = 255  # a procedure's or study's description
SEX = 8
LOCATION = 128

_NAME = {"family": NAME_PART, "given": NAME_PART, "middle": NAME_PART}
LIMITS: Mapping[type, Mapping[str, int]] = MappingProxyType(
    {
        ev.PatientId: {"value": IDENTIFIER, "authority": IDENTIFIER},
        ev.PersonName: {**_NAME, "prefix": NAME_AFFIX, "suffix": NAME_AFFIX},
        ev.Provider: {"id": IDENTIFIER},
        ev.CodedValue: {"code": IDENTIFIER, "text": DESCRIPTION, "system": IDENTIFIER},
        ev.Visit: {"location": LOCATION, "visit_number": IDENTIFIER},
        ev.PatientUpserted: {"sex": SEX},
        ev.PatientArrived: {"accession": IDENTIFIER},
        ev.OrderDetails: {
            "placer_number": IDENTIFIER,
            "filler_number": IDENTIFIER,
            "requested_procedure_id": IDENTIFIER,
            "modality": SHORT_CODE,
            "priority": SHORT_CODE,
            "location": LOCATION,
            "study_instance_uid": IDENTIFIER,
            "station_name": IDENTIFIER,
            "scheduled_step_id": IDENTIFIER,
        },
        ev.OrderPlaced: {"accession": IDENTIFIER},
        ev.OrderChanged: {"accession": IDENTIFIER},
        ev.MilestoneReached: {"accession": IDENTIFIER},
        ev.ProcedureScheduled: {"accession": IDENTIFIER, "resource": IDENTIFIER},
        ev.AppointmentCancelled: {"accession": IDENTIFIER},
        ev.PatientNoShow: {"accession": IDENTIFIER},
        ev.ReportIssued: {"accession": IDENTIFIER},
        ev.DeviceSeen: {
            "ae_title": SHORT_CODE,
            "station_name": IDENTIFIER,
            "modality": SHORT_CODE,
            "manufacturer": IDENTIFIER,
            "model": IDENTIFIER,
            "serial_number": IDENTIFIER,
        },
        ev.InstanceStored: {
            "study_instance_uid": IDENTIFIER,
            "series_instance_uid": IDENTIFIER,
            "sop_instance_uid": IDENTIFIER,
            "sop_class_uid": IDENTIFIER,
            "transfer_syntax": IDENTIFIER,
            "accession": IDENTIFIER,
            "modality": SHORT_CODE,
            "body_part": IDENTIFIER,
            "study_description": DESCRIPTION,
            "device_ae_title": SHORT_CODE,
            "performed_step_uid": IDENTIFIER,
        },
        ev.ScheduledStep: {
            "accession": IDENTIFIER,
            "requested_procedure_id": IDENTIFIER,
            "study_instance_uid": IDENTIFIER,
        },
        ev.ProcedureStepCreated: {
            "sop_instance_uid": IDENTIFIER,
            "station_ae_title": SHORT_CODE,
            "modality": SHORT_CODE,
        },
        ev.ProcedureStepUpdated: {"sop_instance_uid": IDENTIFIER},
    }
)


@dataclass(frozen=True, slots=True)
class TooLong:
    """A value longer than the store keeps: where it is in the event, its limit, the value."""

    path: str  # for example "OrderPlaced.details.procedure.text"
    limit: int
    value: str


def first_too_long(events: Iterable[object]) -> TooLong | None:
    """The first value in `events` longer than its limit, or None when all fit."""
    for event in events:
        found = _first_too_long(event)
        if found is not None:
            names, limit, value = found
            return TooLong(".".join([type(event).__name__, *reversed(names)]), limit, value)
    return None


def _first_too_long(value: object) -> tuple[list[str], int, str] | None:
    """The first value too long below `value`: the field names leading to it, innermost
    first, its limit and the value. Every message's events pass through here, so nothing
    is built (no path, no generator) unless a value is too long."""
    if isinstance(value, tuple):
        for item in value:
            found = _first_too_long(item)
            if found is not None:
                return found
        return None
    checks = _checks(type(value))
    if checks is None:
        return None
    for name, limit in checks:
        item = getattr(value, name)
        if isinstance(item, str):
            if limit is not None and len(item) > limit:
                return [name], limit, item
        elif item is not None and (isinstance(item, tuple) or _checks(type(item)) is not None):
            found = _first_too_long(item)
            if found is not None:
                found[0].append(name)
                return found
    return None


@functools.cache
def _checks(kind: type) -> tuple[tuple[str, int | None], ...] | None:
    """Each field of a vocabulary type with its limit (None: no limit, or not a dataclass).

    Worked out once per type: every message's events are checked, and asking `fields()` of
    every value was a quarter of the time spent mapping an order.
    """
    if not is_dataclass(kind):
        return None
    limits = LIMITS.get(kind, {})
    return tuple((field.name, limits.get(field.name)) for field in fields(kind))
