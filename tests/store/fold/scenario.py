"""A small department's messages, as event tuples, for the fold's equivalence tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mappers.events import (
    AppointmentCancelled,
    CodedValue,
    DeviceSeen,
    Event,
    InstanceStored,
    Milestone,
    MilestoneReached,
    OrderChanged,
    OrderDetails,
    OrderPlaced,
    PatientArrived,
    PatientId,
    PatientNoShow,
    PatientsMerged,
    PatientUpserted,
    PersonName,
    ProcedureScheduled,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    Provider,
    ReportIssued,
    ReportStatus,
    ScheduledStep,
    StepStatus,
    Visit,
)
from store.fold.state import APPENDED, State

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """A time on the scenario's day."""
    return T0 + timedelta(minutes=minutes)


def messages(ns: str = "") -> list[tuple[Event, ...]]:
    """Two patients, three orders, and what a day brings them: one tuple per message."""
    p1, p2 = PatientId(f"{ns}MRN1", "H"), PatientId(f"{ns}MRN2", "H")
    a1, a2, a3 = f"{ns}ACC1", f"{ns}ACC2", f"{ns}ACC3"
    uid1 = f"1.2.{ns or 0}.1"

    def placed(acc: str, patient: PatientId, minute: int, **details: Any) -> OrderPlaced:
        return OrderPlaced(
            acc,
            patient,
            OrderDetails(procedure=CodedValue("71250", "CT CHEST", "CPT4"), **details),
            at(minute),
        )

    def instance(n: int, minute: int) -> InstanceStored:
        return InstanceStored(
            uid1,
            f"{uid1}.1",
            f"{uid1}.1.{n}",
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.840.10008.1.2",
            a1,
            p1,
            "CT",
            "CHEST",
            at(10),
            "CT CHEST",
            f"{ns}CT1",
            at(minute),
        )

    step = f"{uid1}.9"
    return [
        (PatientUpserted(p1, PersonName("Doe", "Jane"), None, "F", at(0), Visit()),),
        (
            PatientUpserted(p1, PersonName("Doe", "Janet"), None, "", at(5)),
            placed(a1, p1, 5, modality="CT", study_instance_uid=uid1, priority="S"),
        ),
        (OrderChanged(a1, p1, OrderDetails(modality="CT", priority="R"), at(7)),),
        (ProcedureScheduled(a1, at(60), 30, f"{ns}CT1", at(8), p1),),
        (AppointmentCancelled(a1, at(9)),),
        (PatientArrived(p1, at(50)),),
        (DeviceSeen(f"{ns}CT1", at(55), modality="CT", manufacturer="ACME"),),
        (
            ProcedureStepCreated(
                step,
                StepStatus.IN_PROGRESS,
                (ScheduledStep(accession=a1),),
                p1,
                f"{ns}CT1",
                "CT",
                at(61),
                None,
                (("ctdi_vol", 5.0),),
                at(61),
            ),
        ),
        (ProcedureStepUpdated(step, StepStatus.COMPLETED, at(80), (("dlp", 300.0),), at(80)),),
        (instance(1, 70),),
        (instance(2, 70),),  # at the same time: a later instance sets no milestone
        (instance(1, 70),),
        (ReportIssued(a1, ReportStatus.PRELIMINARY, "prelim", Provider("R1"), at(120), p1),),
        (ReportIssued(a1, ReportStatus.FINAL, "final", Provider("R1"), at(150), p1),),
        (placed(a2, p2, 20, modality="MR"),),
        (PatientArrived(p2, at(30), accession=a2),),
        (PatientNoShow(a2, at(40)),),
        (MilestoneReached(a2, Milestone.CANCELLED, at(45)),),
        (PatientsMerged(p1, p2, at(100)),),
        (placed(a3, p2, 110, modality="XR"),),
        (PatientArrived(p2, at(115)),),
    ]


def dump(tables: Mapping[str, Mapping[Any, dict[str, Any]]], appended: Mapping[str, list]) -> dict:
    """Rows by natural key without ids; appended rows as sorted lists, comparable by value."""
    keyed = {
        name: {key: _without_id(row) for key, row in rows.items() if name != "arrivals"}
        for name, rows in tables.items()
    }
    keyed["arrivals"] = sorted(
        (repr(_without_id(row)) for row in tables["arrivals"].values()),
    )
    keyed.update({name: sorted(repr(row) for row in rows) for name, rows in appended.items()})
    return keyed


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


class MemoryStore:
    """The store's tables in memory: every row loaded, new rows given ids as a flush would."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, dict[str, Any]]] = {}
        self.appended: dict[str, list[dict[str, Any]]] = {name: [] for name in APPENDED}
        self._next_id = 0

    def take(self, state: State) -> None:
        """Keep a folded batch's rows."""
        tables: dict[str, dict[Any, dict[str, Any]]] = {}
        for name, rows in state.tables.items():
            kept: dict[Any, dict[str, Any]] = {}
            for key, row in rows.items():
                if row["id"] is not None:
                    kept[key] = row
                    continue
                self._next_id += 1
                # Rows without a natural key are known by their id once stored, as in the store.
                own = name in ("arrivals", "downtimes", "probe_sessions")
                kept[self._next_id if own else key] = {**row, "id": self._next_id}
            tables[name] = kept
        self.tables = tables
        for name, rows in state.appended.items():
            self.appended[name] += rows
