"""The store holds every value the mappers let through: each limit of the vocabulary fits the
column the value is kept in, so no value refused by PostgreSQL is taken by SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import Column

from mappers import events as ev
from mappers.limits import LIMITS
from store.schema import devices, instances, orders, patients, procedure_steps, series, studies

# (event type, value) -> the column it is kept in.
KEPT_IN: dict[tuple[type, str], Column] = {
    (ev.PatientId, "value"): patients.c.identifier,
    (ev.PatientId, "authority"): patients.c.authority,
    (ev.PersonName, "family"): patients.c.family_name,
    (ev.PersonName, "given"): patients.c.given_name,
    (ev.PersonName, "middle"): patients.c.middle_name,
    (ev.PersonName, "prefix"): patients.c.name_prefix,
    (ev.PersonName, "suffix"): patients.c.name_suffix,
    (ev.Provider, "id"): orders.c.ordering_provider_id,
    (ev.CodedValue, "code"): orders.c.procedure_code,
    (ev.CodedValue, "text"): orders.c.procedure_text,
    (ev.CodedValue, "system"): orders.c.procedure_system,
    (ev.Visit, "location"): patients.c.location,
    (ev.Visit, "visit_number"): patients.c.visit_number,
    (ev.PatientUpserted, "sex"): patients.c.sex,
    (ev.OrderDetails, "modality"): orders.c.modality,
    (ev.OrderDetails, "priority"): orders.c.priority,
    (ev.OrderDetails, "station_name"): orders.c.scheduled_station_name,
    (ev.OrderDetails, "scheduled_step_id"): orders.c.scheduled_step_id,
    (ev.ProcedureScheduled, "resource"): orders.c.scheduled_resource,
    (ev.DeviceSeen, "ae_title"): devices.c.ae_title,
    (ev.DeviceSeen, "model"): devices.c.model,
    (ev.InstanceStored, "study_instance_uid"): studies.c.study_instance_uid,
    (ev.InstanceStored, "series_instance_uid"): series.c.series_instance_uid,
    (ev.InstanceStored, "sop_instance_uid"): instances.c.sop_instance_uid,
    (ev.InstanceStored, "sop_class_uid"): instances.c.sop_class_uid,
    (ev.InstanceStored, "transfer_syntax"): instances.c.transfer_syntax,
    (ev.InstanceStored, "accession"): studies.c.accession,
    (ev.InstanceStored, "modality"): series.c.modality,
    (ev.InstanceStored, "body_part"): series.c.body_part,
    (ev.InstanceStored, "study_description"): studies.c.description,
    (ev.InstanceStored, "device_ae_title"): devices.c.ae_title,
    (ev.InstanceStored, "performed_step_uid"): procedure_steps.c.sop_instance_uid,
    (ev.ScheduledStep, "accession"): procedure_steps.c.accession,
    (ev.ScheduledStep, "requested_procedure_id"): procedure_steps.c.requested_procedure_id,
    (ev.ScheduledStep, "study_instance_uid"): procedure_steps.c.study_instance_uid,
    (ev.ProcedureStepCreated, "sop_instance_uid"): procedure_steps.c.sop_instance_uid,
    (ev.ProcedureStepCreated, "station_ae_title"): procedure_steps.c.station_ae_title,
    (ev.ProcedureStepCreated, "modality"): procedure_steps.c.modality,
}
# Values named like their column: every accession, and the order's own identifiers.
KEPT_IN |= {
    (kind, "accession"): orders.c.accession
    for kind, values in LIMITS.items()
    if "accession" in values and kind not in (ev.InstanceStored, ev.ScheduledStep)
}
KEPT_IN |= {
    (ev.OrderDetails, name): orders.c[name]
    for name in (
        "placer_number",
        "filler_number",
        "requested_procedure_id",
        "location",
        "study_instance_uid",
    )
}
KEPT_IN |= {
    (ev.DeviceSeen, name): devices.c[name]
    for name in ("station_name", "modality", "manufacturer", "serial_number")
}
KEPT_IN[(ev.ProcedureStepUpdated, "sop_instance_uid")] = procedure_steps.c.sop_instance_uid


@pytest.mark.parametrize(
    ("kind", "name", "limit"),
    [(kind, name, limit) for kind, values in LIMITS.items() for name, limit in values.items()],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_every_limit_fits_its_column(kind: type, name: str, limit: int) -> None:
    """The column that keeps the value is at least as long as the vocabulary allows."""
    column = KEPT_IN[kind, name]
    length = getattr(column.type, "length", None)
    assert length is None or length >= limit, f"{column} holds {length} < {limit}"
