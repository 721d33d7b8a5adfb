"""The canonical vocabulary: one frozen dataclass per fact a message proves.

Mappers produce these; the store's fold (`store.fold`) turns them into rows. Times are
timezone-aware UTC. One module per subject; every type is importable from here.
"""

from __future__ import annotations

from mappers.events.equipment import (
    DeviceProbed,
    DeviceRegistered,
    DeviceRegistration,
    DeviceSeen,
    DowntimeDeclared,
    DowntimeEnded,
)
from mappers.events.imaging import (
    Dose,
    DoseReported,
    InstanceStored,
    IrradiationDose,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ScheduledStep,
    StepLinked,
    StepStatus,
    StudyLinked,
)
from mappers.events.orders import (
    PROGRESS,
    AppointmentCancelled,
    CodedValue,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientNoShow,
    ProcedureScheduled,
    Provider,
    ReportIssued,
    ReportStatus,
)
from mappers.events.pacs import (
    PacsOrderMissing,
    PacsReconciled,
    PacsStudyHeld,
)
from mappers.events.patients import (
    PatientArrived,
    PatientClass,
    PatientId,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    Visit,
)

Event = (
    PatientUpserted
    | PatientsMerged
    | PatientArrived
    | OrderPlaced
    | OrderChanged
    | MilestoneReached
    | ProcedureScheduled
    | AppointmentCancelled
    | PatientNoShow
    | ReportIssued
    | DeviceSeen
    | InstanceStored
    | ProcedureStepCreated
    | ProcedureStepUpdated
    | DoseReported
    | StudyLinked
    | StepLinked
    | DeviceRegistered
    | DowntimeDeclared
    | DowntimeEnded
    | DeviceProbed
    | PacsReconciled
)

__all__ = [
    "PROGRESS",
    "AppointmentCancelled",
    "CodedValue",
    "DeviceProbed",
    "DeviceRegistered",
    "DeviceRegistration",
    "DeviceSeen",
    "Dose",
    "DoseReported",
    "DowntimeDeclared",
    "DowntimeEnded",
    "Event",
    "InstanceStored",
    "IrradiationDose",
    "Milestone",
    "MilestoneReached",
    "OrderChanged",
    "OrderDetails",
    "OrderPlaced",
    "PacsOrderMissing",
    "PacsReconciled",
    "PacsStudyHeld",
    "PatientArrived",
    "PatientClass",
    "PatientId",
    "PatientNoShow",
    "PatientUpserted",
    "PatientsMerged",
    "PersonName",
    "ProcedureScheduled",
    "ProcedureStepCreated",
    "ProcedureStepUpdated",
    "Provider",
    "ReportIssued",
    "ReportStatus",
    "ScheduledStep",
    "StepLinked",
    "StepStatus",
    "StudyLinked",
    "Visit",
]
