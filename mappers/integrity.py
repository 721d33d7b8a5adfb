"""Integrity findings: the kinds, the shape of one finding, and the pure rules that decide them.

A finding is a problem the imaging manager wants found before a radiologist or a referring
physician finds it: an order, study, step or report that does not line up with the rest. The
store reads the candidates; the rules here decide, from plain values and a `now` passed in,
which candidates are findings and what evidence each carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

NO_IMAGES = "no_images"  # completed (MPPS) or reported, yet no image after a while
UNORDERED_STUDY = "unordered_study"  # images that match no order after a while
PATIENT_MISMATCH = "patient_mismatch"  # the order's and its study's patient disagree
OPEN_STEP = "open_step"  # an MPPS step IN PROGRESS for too long
REPORT_WITHOUT_ORDER = "report_without_order"  # a report for an order never placed
ACCESSION_REUSED = "accession_reused"  # one accession used for two patients
NO_SHOW = "no_show"  # past the appointment, no arrival: a no-show candidate
PACS_MISSING = "pacs_missing"  # the PACS does not hold an order's study
PACS_UNORDERED = "pacs_unordered"  # the PACS holds a study for no order
PACS_UNREACHABLE = "pacs_unreachable"  # the PACS did not answer the last reconciliation

KINDS = (
    NO_IMAGES,
    UNORDERED_STUDY,
    PATIENT_MISMATCH,
    OPEN_STEP,
    REPORT_WITHOUT_ORDER,
    ACCESSION_REUSED,
    NO_SHOW,
    PACS_MISSING,
    PACS_UNORDERED,
    PACS_UNREACHABLE,
)

# A suggested match for a study with no order: same patient and modality within a day.
SUGGESTION_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How long each problem may last before it is a finding (`[integrity]` settings)."""

    images_after: timedelta = timedelta(minutes=120)
    unordered_study_after: timedelta = timedelta(minutes=60)
    open_step_after: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: its kind, when it began, what it concerns, and the evidence for it."""

    kind: str
    at: datetime  # when the problem began (the time the threshold is counted from)
    accession: str = ""  # the order it concerns, when there is one
    study_instance_uid: str = ""  # the study it concerns, when there is one
    modality: str = ""
    link: str | None = None  # the API path of the order or study, when the gateway holds it
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """A patient as one side names them: the order's patient record, or the study's header."""

    identifier: str = ""
    authority: str = ""
    family: str = ""
    given: str = ""
    birth_date: date | None = None
    sex: str = ""


def order_link(accession: str) -> str:
    """The API path of an order."""
    return f"/api/v1/orders/{accession}"


def study_link(study_id: int) -> str:
    """The FHIR path of a study the gateway holds."""
    return f"/fhir/ImagingStudy/{study_id}"


def dicom_name(person_name: str) -> tuple[str, str]:
    """(family, given) of a DICOM PN value (PS3.5 6.2.1: components split by ^, the
    alphabetic group before any =)."""
    alphabetic = person_name.split("=", 1)[0]
    parts = alphabetic.split("^")
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.upper().split()) == " ".join(b.upper().split())


# DICOM Patient's Sex (0010,0040) is M, F or O; HL7 table 0001 adds U (unknown), A and N.
_UNKNOWN_SEX = {"", "U"}


def disagreements(order: PatientFacts, study: PatientFacts) -> dict[str, dict[str, str]]:
    """The fields on which the order's and the study's patient disagree, each with both
    values; a field either side leaves empty is no disagreement."""
    found: dict[str, dict[str, str]] = {}

    def differ(name: str, ours: str, theirs: str) -> None:
        found[name] = {"order": ours, "study": theirs}

    if order.identifier and study.identifier:
        same_authority = (
            not order.authority or not study.authority or order.authority == study.authority
        )
        if order.identifier != study.identifier or not same_authority:
            differ(
                "patient_id",
                _qualified(order.identifier, order.authority),
                _qualified(study.identifier, study.authority),
            )
    if order.family and study.family:
        family_differs = not _same_text(order.family, study.family)
        given_differs = bool(order.given and study.given) and not _same_text(
            order.given, study.given
        )
        if family_differs or given_differs:
            differ("name", f"{order.family}^{order.given}", f"{study.family}^{study.given}")
    if order.birth_date and study.birth_date and order.birth_date != study.birth_date:
        differ("birth_date", order.birth_date.isoformat(), study.birth_date.isoformat())
    order_sex, study_sex = order.sex.upper(), study.sex.upper()
    if order_sex not in _UNKNOWN_SEX and study_sex not in _UNKNOWN_SEX and order_sex != study_sex:
        differ("sex", order_sex, study_sex)
    return found


def _qualified(identifier: str, authority: str) -> str:
    return f"{authority}|{identifier}" if authority else identifier


def patient_finding(
    order: PatientFacts, study: PatientFacts, *, same_accession: bool
) -> tuple[str, dict[str, dict[str, str]]] | None:
    """The kind and the differing fields when an order's patient and its study's disagree.

    A study that carries the order's own accession for another patient identifier is the
    accession used twice; any other disagreement is a patient mismatch.
    """
    fields = disagreements(order, study)
    if not fields:
        return None
    if same_accession and "patient_id" in fields:
        return ACCESSION_REUSED, fields
    return PATIENT_MISMATCH, fields


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order that may be the one an unordered study belongs to."""

    accession: str
    patient_identifier: str
    modality: str
    at: datetime | None  # its appointment, else its order time


def suggest_orders(
    patient_identifier: str,
    modalities: Iterable[str],
    study_at: datetime,
    candidates: Iterable[Candidate],
) -> list[str]:
    """The accessions of orders for the same patient and modality within a day of the study,
    nearest first."""
    wanted = {m for m in modalities if m}
    near = [
        (abs(c.at - study_at), c.accession)
        for c in candidates
        if patient_identifier
        and c.patient_identifier == patient_identifier
        and c.at is not None
        and abs(c.at - study_at) <= SUGGESTION_WINDOW
        and (not wanted or c.modality in wanted)
    ]
    return [accession for _, accession in sorted(near)]


def appointment_end(start: datetime, duration_minutes: int | None) -> datetime:
    """When an appointment ends: its start plus its booked duration, if any."""
    return start + timedelta(minutes=duration_minutes or 0)


@dataclass(frozen=True, slots=True)
class PacsOutcome:
    """The last reconciliation with the PACS, as recorded."""

    checked_at: datetime
    reachable: bool
    error: str
    window_first: date
    window_last: date
    missing: Sequence[Mapping[str, str]]  # accession, study_instance_uid, patient_id
    unordered: Sequence[Mapping[str, Any]]  # study_instance_uid, accession, patient_id, ...


def pacs_findings(outcome: PacsOutcome | None, modality_of: Mapping[str, str]) -> list[Finding]:
    """The findings of the last reconciliation: the PACS unreachable, or each order it lacks
    and each study it holds for no order. `modality_of` gives an order's modality."""
    if outcome is None:
        return []
    window = {"first": outcome.window_first.isoformat(), "last": outcome.window_last.isoformat()}
    if not outcome.reachable:
        return [
            Finding(
                PACS_UNREACHABLE,
                outcome.checked_at,
                evidence={"error": outcome.error, "study_dates": window},
            )
        ]
    found = [
        Finding(
            PACS_MISSING,
            outcome.checked_at,
            accession=item["accession"],
            study_instance_uid=item.get("study_instance_uid", ""),
            modality=modality_of.get(item["accession"], ""),
            link=order_link(item["accession"]),
            evidence={"study_dates": window, "patient_id": item.get("patient_id", "")},
        )
        for item in outcome.missing
    ]
    for item in outcome.unordered:
        modalities = list(item.get("modalities", ()))
        found.append(
            Finding(
                PACS_UNORDERED,
                outcome.checked_at,
                accession=item.get("accession", ""),
                study_instance_uid=item["study_instance_uid"],
                modality=modalities[0] if modalities else "",
                evidence={
                    "patient_id": item.get("patient_id", ""),
                    "study_date": item.get("study_date", ""),
                    "modalities": modalities,
                },
            )
        )
    return found


def select_findings(
    findings: Iterable[Finding],
    *,
    kinds: Sequence[str] = (),
    since: datetime | None = None,
    modality: str | None = None,
) -> list[Finding]:
    """The findings of the kinds asked (all when none), begun at or after `since`, of the
    modality asked; newest first, then by kind and reference."""
    chosen = [
        f
        for f in findings
        if (not kinds or f.kind in kinds)
        and (since is None or f.at >= since)
        and (modality is None or f.modality == modality)
    ]
    chosen.sort(key=lambda f: (f.kind, f.accession, f.study_instance_uid))
    chosen.sort(key=lambda f: f.at, reverse=True)
    return chosen


FindingKey = tuple[datetime, str, str, str]


def finding_key(finding: Finding) -> FindingKey:
    """Where a finding sorts: newest first, then by kind, accession and study."""
    return (finding.at, finding.kind, finding.accession, finding.study_instance_uid)


def page_findings(
    findings: Sequence[Finding], after: FindingKey | None, limit: int
) -> tuple[list[Finding], FindingKey | None]:
    """The page of sorted `findings` that follows the key `after`, and the key of its last
    finding when more follow."""

    def follows(finding: Finding) -> bool:
        if after is None:
            return True
        at, *rest = finding_key(finding)
        return at < after[0] or (at == after[0] and tuple(rest) > after[1:])

    rest = [f for f in findings if follows(f)]
    shown = rest[:limit]
    return shown, (finding_key(shown[-1]) if len(rest) > limit else None)
