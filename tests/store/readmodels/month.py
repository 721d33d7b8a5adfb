"""A generated department month, as messages (event tuples): orders of three modalities on
two devices across a DST change, with appointments, arrivals, MPPS, images, reports,
cancellations, no-shows, changed modalities and corrected (earlier) milestones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from mappers.events import (
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
    PatientClass,
    PatientId,
    PatientNoShow,
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
)

START = datetime(2026, 3, 14, 6, 0, tzinfo=UTC)  # Europe/Berlin leaves winter time on 29 March
ZONE = "Europe/Berlin"
CLASSES = (PatientClass.EMERGENCY, PatientClass.INPATIENT, PatientClass.OUTPATIENT)


def month(ns: str, orders: int = 36, seed: int = 7) -> list[tuple[Event, ...]]:
    """One tuple per message; names carry `ns` so that runs share a database apart."""
    rng = random.Random(seed)
    modalities = (f"{ns}CT", f"{ns}MR", f"{ns}US")
    devices = (f"{ns}D1", f"{ns}D2")
    sent: list[tuple[Event, ...]] = [(DeviceSeen(devices[0], START, modality="CT"),)]
    for n in range(orders):
        acc, patient = f"{ns}A{n}", PatientId(f"{ns}P{n % 20}", "H")
        base = START + timedelta(days=rng.uniform(0, 30), seconds=rng.randrange(3600))

        def t(minutes: float, base: datetime = base) -> datetime:
            return base + timedelta(minutes=minutes, milliseconds=rng.randrange(1000))

        modality = rng.choice(modalities)
        details = OrderDetails(
            procedure=CodedValue("70450", "CT HEAD", "CPT4"),
            modality=modality,
            priority=rng.choice(("S", "R")),
            patient_class=rng.choice(CLASSES),
            study_instance_uid=f"1.9.{ns}.{n}",
        )
        sent.append((PatientUpserted(patient, PersonName("Doe", "J"), None, "F", t(0)),))
        sent.append((OrderPlaced(acc, patient, details, t(0)),))
        if rng.random() < 0.15:
            changed = OrderDetails(modality=rng.choice(modalities), priority="R")
            sent.append((OrderChanged(acc, patient, changed, t(2)),))
        if rng.random() < 0.7:
            sent.append((ProcedureScheduled(acc, t(90), 30, devices[0], t(5), patient),))
            if rng.random() < 0.1:
                sent.append((PatientNoShow(acc, t(120)),))
                continue
        if rng.random() < 0.08:
            sent.append((MilestoneReached(acc, Milestone.CANCELLED, t(30)),))
            if rng.random() < 0.5:
                continue
        if rng.random() < 0.15:
            continue  # still waiting to arrive
        sent.append((PatientArrived(patient, t(60), accession=acc),))
        if rng.random() < 0.1:
            continue  # waiting
        device = rng.choice(devices)
        step = f"1.9.{ns}.{n}.9"
        started = t(rng.uniform(70, 200))
        if rng.random() < 0.8:
            sent.append(
                (
                    ProcedureStepCreated(
                        step,
                        StepStatus.IN_PROGRESS,
                        (ScheduledStep(accession=acc),),
                        patient,
                        device,
                        modality,
                        started,
                        None,
                        (),
                        started,
                    ),
                )
            )
            if rng.random() < 0.1:
                continue  # in exam
            status = StepStatus.DISCONTINUED if rng.random() < 0.05 else StepStatus.COMPLETED
            ended = started + timedelta(minutes=rng.uniform(5, 40))
            sent.append((ProcedureStepUpdated(step, status, ended, (), ended),))
        if rng.random() < 0.85:
            sent.append(
                (
                    _instance(
                        ns,
                        n,
                        acc,
                        patient,
                        modality=modality,
                        device=device,
                        at=t(rng.uniform(200, 260)),
                    ),
                )
            )
        if rng.random() < 0.1:
            sent.append(
                (MilestoneReached(acc, Milestone.EXAM_STARTED, started - timedelta(minutes=3)),)
            )
        if rng.random() < 0.2:
            continue  # awaiting report
        if rng.random() < 0.6:
            prelim = t(rng.uniform(270, 600))
            sent.append((ReportIssued(acc, ReportStatus.PRELIMINARY, "p", Provider("R"), prelim),))
        final = t(rng.uniform(600, 3000))
        sent.append((ReportIssued(acc, ReportStatus.FINAL, "f", Provider("R"), final),))
    return sent


def _instance(
    ns: str, n: int, acc: str, patient: PatientId, *, modality: str, device: str, at: datetime
) -> InstanceStored:
    uid = f"1.9.{ns}.{n}"
    return InstanceStored(
        uid,
        f"{uid}.1",
        f"{uid}.1.1",
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.1.2",
        acc,
        patient,
        modality,
        "HEAD",
        at,
        "CT HEAD",
        device,
        at,
    )
