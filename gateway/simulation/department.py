"""A department's day as a plan: who is ordered, scheduled, scanned and reported, and when.

Pure: the same seed and start give the same plan. Each exam follows the IHE Scheduled
Workflow a real department shows: registration, an order from one of two RIS styles, a
booking, arrival, the modality's MPPS and images, a preliminary and a final report. The ED
sends STAT CTs without a booking; one patient does not come; one order is cancelled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Scanner:
    """A modality the simulation runs (and answers C-ECHO for)."""

    ae_title: str
    modality: str
    name: str
    location: str


SCANNERS = (
    Scanner("CT01", "CT", "CT 1 (emergency)", "ED imaging"),
    Scanner("CT02", "CT", "CT 2", "Main department"),
    Scanner("MR01", "MR", "MRI 1.5T", "Main department"),
    Scanner("DX01", "DX", "X-ray room 1", "Main department"),
    Scanner("US01", "US", "Ultrasound 1", "Outpatients"),
    Scanner("MG01", "MG", "Mammography", "Breast unit"),
    Scanner("NM01", "NM", "Gamma camera", "Nuclear medicine"),
)

# (modality, CPT code, text, minutes on the table)
PROCEDURES = (
    ("CT", "70450", "CT HEAD W/O CONTRAST", 10),
    ("CT", "71250", "CT CHEST W/O CONTRAST", 12),
    ("CT", "74177", "CT ABDOMEN PELVIS W CONTRAST", 20),
    ("MR", "70551", "MRI BRAIN W/O CONTRAST", 35),
    ("MR", "72148", "MRI LUMBAR SPINE W/O CONTRAST", 30),
    ("DX", "71046", "XR CHEST 2 VIEWS", 8),
    ("DX", "73630", "XR FOOT 3 VIEWS", 8),
    ("US", "76700", "US ABDOMEN COMPLETE", 25),
    ("MG", "77067", "MAMMO SCREENING BILATERAL", 15),
    ("NM", "78452", "NM MYOCARDIAL PERFUSION SPECT", 45),
)

FAMILIES = (
    "NOVAK",
    "OKAFOR",
    "LINDQVIST",
    "MORALES",
    "TANAKA",
    "BRENNAN",
    "KOWALCZYK",
    "HADDAD",
    "FONTAINE",
    "ABERNATHY",
    "CALLOWAY",
    "IVANOVA",
    "MENSAH",
    "ROSSI",
)
GIVENS = ("ANNA", "CHIDI", "LUCIA", "KENJI", "SEAN", "PETRA", "OMAR", "CLAIRE", "COLE", "ZARA")


class Fate(StrEnum):
    """How an exam's day ends."""

    REPORTED = "reported"  # scanned and reported (preliminary first when STAT or ED)
    AWAITING_REPORT = "awaiting_report"  # scanned, no report yet
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class Step(StrEnum):
    """One thing that happens to an exam (or a scanner) at a moment of the day."""

    REGISTER = "register"  # ADT^A04 / A01
    ORDER = "order"  # ORM^O01 (v2.3.1) or OMI^O23 (v2.5.1)
    SCHEDULE = "schedule"  # SIU^S12
    ARRIVE = "arrive"  # ADT^A10
    START = "start"  # MPPS N-CREATE IN PROGRESS
    IMAGES = "images"  # C-STORE
    COMPLETE = "complete"  # MPPS N-SET COMPLETED
    PRELIMINARY = "preliminary"  # ORU^R01 OBR-25 P
    FINAL = "final"  # ORU^R01 OBR-25 F
    NO_SHOW = "no_show"  # SIU^S26
    CANCEL = "cancel"  # ORC-1 CA


@dataclass(frozen=True, slots=True)
class Exam:
    """One patient's exam through the day."""

    accession: str
    patient_id: str
    family: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str
    patient_class: str  # PV1-2: E, I or O
    scanner: Scanner
    code: str
    text: str
    minutes: int
    priority: str  # S or R
    ris: str  # "EPIC" sends ORM^O01 v2.3.1, "RADIANT" OMI^O23 v2.5.1
    fate: Fate


@dataclass(frozen=True, slots=True)
class Event:
    """A step of one exam at a moment of the day (UTC)."""

    at: datetime
    step: Step
    exam: Exam


def plan_day(start: datetime, hours: float, exams: int, seed: int = 1) -> list[Event]:
    """The day's events from `start` over `hours`, in time order; `exams` exams."""
    rng = random.Random(seed)
    events: list[Event] = []
    span = timedelta(hours=hours)
    for number in range(exams):
        exam = _exam(rng, number)
        ordered = start + span * (number / max(exams, 1)) * 0.85
        events.extend(_exam_events(rng, exam, ordered))
    end = start + span
    return sorted((e for e in events if e.at <= end), key=lambda e: (e.at, e.exam.accession))


def _exam(rng: random.Random, number: int) -> Exam:
    emergency = number % 5 == 0
    modality, code, text, minutes = (
        rng.choice(PROCEDURES[:3]) if emergency else rng.choice(PROCEDURES)
    )
    scanners = [s for s in SCANNERS if s.modality == modality]
    scanner = (
        scanners[0] if emergency else rng.choice(scanners[-1:] if modality == "CT" else scanners)
    )
    fate = Fate.REPORTED
    if number == 7:
        fate = Fate.NO_SHOW
    elif number == 11:
        fate = Fate.CANCELLED
    elif number % 6 == 4:
        fate = Fate.AWAITING_REPORT
    return Exam(
        accession=f"SIM{number + 1:05d}",
        patient_id=f"SIM-MRN{number + 1:05d}",
        family=rng.choice(FAMILIES),
        given=rng.choice(GIVENS),
        birth_date=f"{rng.randint(1935, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        sex=rng.choice("FM"),
        patient_class="E" if emergency else rng.choice("IOOO"),
        scanner=scanner,
        code=code,
        text=text,
        minutes=minutes,
        priority="S" if emergency else "R",
        ris="EPIC" if number % 2 == 0 else "RADIANT",
        fate=fate,
    )


def _exam_events(rng: random.Random, exam: Exam, ordered: datetime) -> list[Event]:
    def at(minutes: float) -> datetime:
        return ordered + timedelta(minutes=minutes)

    steps = [(at(-2), Step.REGISTER), (at(0), Step.ORDER)]
    emergency = exam.patient_class == "E"
    booked = 5 if emergency else rng.randint(30, 90)
    if not emergency:
        steps.append((at(1), Step.SCHEDULE))
    if exam.fate is Fate.CANCELLED:
        return [Event(t, s, exam) for t, s in [*steps, (at(booked - 20), Step.CANCEL)]]
    if exam.fate is Fate.NO_SHOW:
        return [Event(t, s, exam) for t, s in [*steps, (at(booked + 15), Step.NO_SHOW)]]
    arrived = booked - (2 if emergency else rng.randint(5, 20))
    started = booked + rng.randint(0, 25)
    completed = started + exam.minutes
    steps += [
        (at(arrived), Step.ARRIVE),
        (at(started), Step.START),
        (at(started + 2), Step.IMAGES),
        (at(completed), Step.COMPLETE),
    ]
    if exam.fate is Fate.REPORTED:
        read = completed + (rng.randint(15, 50) if emergency else rng.randint(60, 300))
        if emergency or exam.priority == "S":
            steps.append((at(completed + rng.randint(8, 25)), Step.PRELIMINARY))
        steps.append((at(read), Step.FINAL))
    return [Event(t, s, exam) for t, s in steps]
