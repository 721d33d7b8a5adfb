"""Fold a batch: each message's events in turn over one working set of rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mappers.events import (
    AppointmentCancelled,
    DeviceProbed,
    DeviceRegistered,
    DeviceSeen,
    DoseReported,
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
from store.fold import (
    arrivals,
    devices,
    dose,
    equipment,
    links,
    orders,
    pacs,
    patients,
    reports,
    schedule,
    steps,
    studies,
)
from store.fold.outbox import NO_DESTINATIONS, Destinations, route_notices
from store.fold.readmodels import ReadModelChanges, read_model_changes
from store.fold.state import Key, Row, State

UTC_ZONE = ZoneInfo("UTC")
Rule = Callable[[State, Any, int | None], None]

RULES: Mapping[type, Rule] = {
    PatientUpserted: patients.upsert_patient,
    PatientsMerged: patients.merge_patients,
    PatientArrived: arrivals.record_arrival,
    OrderPlaced: orders.place_order,
    OrderChanged: orders.change_order,
    MilestoneReached: orders.reach_milestone,
    ProcedureScheduled: schedule.schedule,
    AppointmentCancelled: schedule.cancel_appointment,
    PatientNoShow: schedule.no_show,
    ReportIssued: reports.issue_report,
    DeviceSeen: devices.see_device,
    InstanceStored: studies.store_instance,
    ProcedureStepCreated: steps.create_step,
    ProcedureStepUpdated: steps.update_step,
    DoseReported: dose.record_dose,
    StudyLinked: links.link_study,
    StepLinked: links.link_step,
    DeviceRegistered: equipment.register_device,
    DowntimeDeclared: equipment.declare_downtime,
    DowntimeEnded: equipment.end_downtime,
    DeviceProbed: equipment.record_probe,
    PacsReconciled: pacs.record_reconciliation,
}


@dataclass(frozen=True, slots=True)
class Folding:
    """One message to fold: the id its log row has, and its events."""

    message_id: int | None
    events: Sequence[Event]


@dataclass(slots=True)
class Folded:
    """The batch's rows after the fold, what became of each message (None: applied), and the
    outbox rows the applied ones owe the destinations, and the read models' changes."""

    state: State
    refusals: list[Exception | None]
    outbox: list[Row]
    read_models: ReadModelChanges


def fold_batch(
    loaded: Mapping[str, Mapping[Key, Row]],
    messages: Sequence[Folding],
    now: datetime,
    destinations: Destinations = NO_DESTINATIONS,
    tz: ZoneInfo = UTC_ZONE,
) -> Folded:
    """Apply each message's events in order; a message that raises is undone alone; what the
    applied ones owe each of the `destinations` becomes its outbox rows, and what they change
    in the read models is worked out in the facility time zone `tz`."""
    state = State.of(loaded, now)
    state.goals = destinations.goals
    refusals: list[Exception | None] = []
    for message in messages:
        state.begin()
        try:
            for event in message.events:
                rule = RULES.get(type(event))
                if rule is None:
                    raise TypeError(f"no store rule for event {type(event).__name__}")
                rule(state, event, message.message_id)
        except Exception as error:  # refused or failed: answered alone, the batch goes on
            state.rollback()
            refusals.append(error)
        else:
            refusals.append(None)
    owed = route_notices(state.appended["notices"], destinations.routes, now)
    changes = read_model_changes(loaded, state.tables, tz)
    return Folded(state, refusals, owed, changes)
