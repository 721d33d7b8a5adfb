"""What a batch touches: the keys its events name, so the shell loads them in a few queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from mappers.events import (
    AppointmentCancelled,
    DeviceProbed,
    DeviceRegistered,
    DeviceSeen,
    DowntimeDeclared,
    DowntimeEnded,
    Event,
    InstanceStored,
    MilestoneReached,
    OrderChanged,
    OrderPlaced,
    PacsReconciled,
    PatientArrived,
    PatientNoShow,
    PatientsMerged,
    PatientUpserted,
    ProcedureScheduled,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ReportIssued,
    StepLinked,
    StudyLinked,
)
from store.fold.patients import PatientKey, patient_key


@dataclass(slots=True)
class Keys:
    """The natural keys a batch names, by table, and the times its windows need."""

    patients: set[PatientKey] = field(default_factory=set)
    merged: set[PatientKey] = field(default_factory=set)
    accessions: set[str] = field(default_factory=set)
    order_uids: set[str] = field(default_factory=set)  # orders matched by Study Instance UID
    order_procedures: set[str] = field(default_factory=set)  # ... or Requested Procedure ID
    waiting: set[str] = field(default_factory=set)  # what unmatched studies/steps may name
    studies: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)
    instances: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    downtimes: set[int] = field(default_factory=set)
    probed: set[str] = field(default_factory=set)  # devices whose last probe session counts
    order_times: list[datetime] = field(default_factory=list)  # arrivals near these
    arrival_times: list[datetime] = field(default_factory=list)  # orders near these

    def lock_names(self) -> list[str]:
        """Every key as a string, for the advisory locks that serialize processes."""
        names = [f"p\x1f{a}\x1f{b}" for a, b in self.patients]
        names += [f"o\x1f{a}" for a in self.accessions]
        names += [f"s\x1f{a}" for a in self.studies]
        names += [f"r\x1f{a}" for a in self.series]
        names += [f"i\x1f{a}" for a in self.instances]
        names += [f"m\x1f{a}" for a in self.steps]
        names += [f"d\x1f{a}" for a in self.devices]
        return names


def collect_keys(batches: Iterable[Iterable[Event]]) -> Keys:
    """The keys every event of every message names."""
    keys = Keys()
    for events in batches:
        for event in events:
            _collect(keys, event)
    return keys


def _collect(keys: Keys, event: Event) -> None:
    match event:
        case PatientUpserted(patient=patient):
            keys.patients.add(patient_key(patient))
        case PatientsMerged(survivor=survivor, merged=merged):
            keys.patients |= {patient_key(survivor), patient_key(merged)}
            keys.merged.add(patient_key(merged))
        case PatientArrived():
            keys.patients.add(patient_key(event.patient))
            if event.accession:
                keys.accessions.add(event.accession)
            else:
                keys.arrival_times.append(event.occurred_at)
        case OrderPlaced():
            keys.patients.add(patient_key(event.patient))
            keys.accessions.add(event.accession)
            keys.waiting.add(event.accession)
            if event.details.study_instance_uid:
                keys.waiting.add(event.details.study_instance_uid)
            keys.order_times.append(event.ordered_at)
        case OrderChanged():
            keys.patients.add(patient_key(event.patient))
            keys.accessions.add(event.accession)
        case ProcedureScheduled() | ReportIssued():
            if event.patient is not None:
                keys.patients.add(patient_key(event.patient))
            keys.accessions.add(event.accession)
        case MilestoneReached() | AppointmentCancelled() | PatientNoShow():
            keys.accessions.add(event.accession)
        case _:
            _collect_dicom(keys, event)


def _collect_dicom(keys: Keys, event: Event) -> None:
    """DICOM, operator and prober events."""
    match event:
        case DeviceSeen():
            keys.devices.add(event.ae_title)
        case InstanceStored():
            keys.studies.add(event.study_instance_uid)
            keys.series.add(event.series_instance_uid)
            keys.instances.add(event.sop_instance_uid)
            keys.devices.add(event.device_ae_title)
            _order_names(keys, event.accession, event.study_instance_uid, "")
            if event.performed_step_uid:
                keys.steps.add(event.performed_step_uid)
        case ProcedureStepCreated():
            keys.steps.add(event.sop_instance_uid)
            keys.devices.add(event.station_ae_title)
            for step in event.steps:
                _order_names(
                    keys, step.accession, step.study_instance_uid, step.requested_procedure_id
                )
        case ProcedureStepUpdated():
            keys.steps.add(event.sop_instance_uid)
        case StudyLinked():
            keys.studies.add(event.study_instance_uid)
            keys.accessions.add(event.accession)
        case StepLinked():
            keys.steps.add(event.sop_instance_uid)
            keys.accessions.add(event.accession)
        case DeviceRegistered() | DowntimeDeclared():
            keys.devices.add(event.ae_title)
        case DowntimeEnded():
            keys.devices.add(event.ae_title)
            keys.downtimes.add(event.downtime_id)
        case DeviceProbed():
            keys.devices.add(event.ae_title)
            keys.probed.add(event.ae_title)
        case PacsReconciled():
            pass  # appended alone: it reads no row
        case _:
            pass  # no rule: the fold refuses its message alone


def _order_names(keys: Keys, accession: str, study_uid: str, procedure_id: str) -> None:
    if accession:
        keys.accessions.add(accession)
    if study_uid:
        keys.order_uids.add(study_uid)
    if procedure_id:
        keys.order_procedures.add(procedure_id)
