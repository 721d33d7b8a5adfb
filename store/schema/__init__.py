"""The workflow store's tables (SQLAlchemy 2 declarative, `Mapped[...]` columns).

The hot path writes through `Model.__table__` with Core statements; ORM objects never leave
`store/`. Every change here comes with an Alembic migration (`store/migrations/versions`); a
test compares the two.

One module per subject (`base`, `workflow`, `imaging`, `equipment`, `operations`,
`read_models`), all on one metadata; every table is importable from here.
"""

from __future__ import annotations

from store.schema.base import NAMING_CONVENTION, Base, Id, MillisecondsBetween, UtcDateTime
from store.schema.equipment import (
    DeviceRecord,
    DeviceTransitionRecord,
    DowntimeRecord,
    ProbeSessionRecord,
)
from store.schema.imaging import (
    TOTAL,
    DoseEventRecord,
    InstanceRecord,
    PacsCheckRecord,
    ProcedureStepRecord,
    SeriesRecord,
    StudyRecord,
)
from store.schema.operations import AuditRecord, OutboxRecord
from store.schema.read_models import (
    BoardOrderRecord,
    FigureCountRecord,
    OrderFigureRecord,
    VolumeHourRecord,
)
from store.schema.workflow import (
    ArrivalRecord,
    MessageRecord,
    OrderRecord,
    PatientRecord,
    ReportRecord,
    TimelineRecord,
)

messages = MessageRecord.__table__
patients = PatientRecord.__table__
orders = OrderRecord.__table__
order_timeline = TimelineRecord.__table__
reports = ReportRecord.__table__
patient_arrivals = ArrivalRecord.__table__
devices = DeviceRecord.__table__
studies = StudyRecord.__table__
series = SeriesRecord.__table__
instances = InstanceRecord.__table__
procedure_steps = ProcedureStepRecord.__table__
probe_sessions = ProbeSessionRecord.__table__
device_transitions = DeviceTransitionRecord.__table__
downtimes = DowntimeRecord.__table__
audit_events = AuditRecord.__table__
outbox = OutboxRecord.__table__
order_figures = OrderFigureRecord.__table__
figure_counts = FigureCountRecord.__table__
board_orders = BoardOrderRecord.__table__
volume_hours = VolumeHourRecord.__table__
pacs_checks = PacsCheckRecord.__table__
dose_events = DoseEventRecord.__table__

__all__ = [
    "NAMING_CONVENTION",
    "TOTAL",
    "ArrivalRecord",
    "AuditRecord",
    "Base",
    "BoardOrderRecord",
    "DeviceRecord",
    "DeviceTransitionRecord",
    "DoseEventRecord",
    "DowntimeRecord",
    "FigureCountRecord",
    "Id",
    "InstanceRecord",
    "MessageRecord",
    "MillisecondsBetween",
    "OrderFigureRecord",
    "OrderRecord",
    "OutboxRecord",
    "PacsCheckRecord",
    "PatientRecord",
    "ProbeSessionRecord",
    "ProcedureStepRecord",
    "ReportRecord",
    "SeriesRecord",
    "StudyRecord",
    "TimelineRecord",
    "UtcDateTime",
    "VolumeHourRecord",
    "audit_events",
    "board_orders",
    "device_transitions",
    "devices",
    "dose_events",
    "downtimes",
    "figure_counts",
    "instances",
    "messages",
    "order_figures",
    "order_timeline",
    "orders",
    "outbox",
    "pacs_checks",
    "patient_arrivals",
    "patients",
    "probe_sessions",
    "procedure_steps",
    "reports",
    "series",
    "studies",
    "volume_hours",
]
