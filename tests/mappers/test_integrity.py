"""The pure integrity rules: patient comparison, suggestions, PACS findings,
selection and paging."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mappers.integrity import (
    ACCESSION_REUSED,
    KINDS,
    NO_IMAGES,
    NO_SHOW,
    PACS_MISSING,
    PACS_UNORDERED,
    PACS_UNREACHABLE,
    PATIENT_MISMATCH,
    Candidate,
    Finding,
    PacsOutcome,
    PatientFacts,
    appointment_end,
    dicom_name,
    disagreements,
    finding_key,
    pacs_findings,
    page_findings,
    patient_finding,
    select_findings,
    suggest_orders,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SMITH = PatientFacts("MRN1", "HOSP", "SMITH", "JOHN", date(1970, 1, 2), "M")


def test_kinds_are_unique_names() -> None:
    """Every kind is named once; the API's `kind` filter takes exactly these."""
    assert len(KINDS) == len(set(KINDS)) == 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SMITH^JOHN", ("SMITH", "JOHN")),
        ("SMITH^JOHN^Q^DR^JR", ("SMITH", "JOHN")),
        ("SMITH", ("SMITH", "")),
        ("", ("", "")),
        ("YAMADA^TARO=山田^太郎", ("YAMADA", "TARO")),
        (" SMITH ^ JOHN ", ("SMITH", "JOHN")),
    ],
)
def test_dicom_name_reads_family_and_given(value: str, expected: tuple[str, str]) -> None:
    """PN: components by ^, the alphabetic group before =."""
    assert dicom_name(value) == expected


@pytest.mark.parametrize(
    ("study", "fields"),
    [
        (SMITH, set()),
        (PatientFacts("MRN1", "", "smith", "john", None, ""), set()),  # case, empties agree
        (PatientFacts("MRN1", "HOSP", "SMITH", "", date(1970, 1, 2), "U"), set()),
        (PatientFacts("MRN2", "HOSP", "SMITH", "JOHN", date(1970, 1, 2), "M"), {"patient_id"}),
        (PatientFacts("MRN1", "OTHER", "SMITH", "JOHN", None, ""), {"patient_id"}),
        (PatientFacts("MRN1", "HOSP", "SMYTH", "JOHN", None, ""), {"name"}),
        (PatientFacts("MRN1", "HOSP", "SMITH", "JANE", None, ""), {"name"}),
        (PatientFacts("MRN1", "HOSP", "", "", date(1971, 1, 2), ""), {"birth_date"}),
        (PatientFacts("MRN1", "HOSP", "", "", None, "F"), {"sex"}),
        (PatientFacts("", "", "DOE", "JANE", date(1980, 1, 1), "F"), {"name", "birth_date", "sex"}),
    ],
)
def test_disagreements_name_each_field_that_differs(study: PatientFacts, fields: set) -> None:
    """ID (with authority), name, birth date and sex; what one side leaves empty agrees."""
    assert set(disagreements(SMITH, study)) == fields


def test_disagreement_shows_both_values() -> None:
    """The evidence holds the order's value and the study's."""
    found = disagreements(SMITH, PatientFacts("MRN9", "HOSP", "DOE", "JANE", date(1980, 1, 1)))
    assert found == {
        "patient_id": {"order": "HOSP|MRN1", "study": "HOSP|MRN9"},
        "name": {"order": "SMITH^JOHN", "study": "DOE^JANE"},
        "birth_date": {"order": "1970-01-02", "study": "1980-01-01"},
    }


@pytest.mark.parametrize(
    ("study", "same_accession", "kind"),
    [
        (SMITH, True, None),
        (PatientFacts("MRN2"), True, ACCESSION_REUSED),
        (PatientFacts("MRN2"), False, PATIENT_MISMATCH),
        (PatientFacts("MRN1", sex="F"), True, PATIENT_MISMATCH),
        (PatientFacts("MRN1", sex="F"), False, PATIENT_MISMATCH),
    ],
)
def test_patient_finding_tells_a_reused_accession_from_a_mismatch(
    study: PatientFacts, same_accession: bool, kind: str | None
) -> None:
    """Another patient ID under the order's own accession is the accession used twice."""
    found = patient_finding(SMITH, study, same_accession=same_accession)
    assert (found[0] if found else None) == kind


def test_suggestions_are_same_patient_and_modality_within_a_day_nearest_first() -> None:
    """Other patients, other modalities, orders over a day away and undated ones are left out."""
    candidates = [
        Candidate("FAR", "MRN1", "CT", NOW - timedelta(days=1, minutes=1)),
        Candidate("NEAR", "MRN1", "CT", NOW - timedelta(hours=1)),
        Candidate("DAY", "MRN1", "CT", NOW + timedelta(days=1)),
        Candidate("MR", "MRN1", "MR", NOW),
        Candidate("OTHER", "MRN2", "CT", NOW),
        Candidate("UNDATED", "MRN1", "CT", None),
    ]
    assert suggest_orders("MRN1", ["CT"], NOW, candidates) == ["NEAR", "DAY"]
    assert suggest_orders("MRN1", [], NOW, candidates) == ["MR", "NEAR", "DAY"]
    assert suggest_orders("", ["CT"], NOW, candidates) == []


def test_appointment_end_adds_the_booked_duration() -> None:
    """Start plus duration; no duration ends at the start."""
    assert appointment_end(NOW, 30) == NOW + timedelta(minutes=30)
    assert appointment_end(NOW, None) == NOW


def _outcome(**changes: object) -> PacsOutcome:
    fields: dict = {
        "checked_at": NOW,
        "reachable": True,
        "error": "",
        "window_first": date(2026, 12, 5),
        "window_last": date(2026, 12, 7),
        "missing": [{"accession": "A1", "study_instance_uid": "1.2.1", "patient_id": "MRN1"}],
        "unordered": [
            {
                "study_instance_uid": "9.9",
                "accession": "X9",
                "patient_id": "MRN9",
                "study_date": "20261206",
                "modalities": ["MR", "SR"],
            }
        ],
    }
    return PacsOutcome(**{**fields, **changes})


def test_pacs_findings_list_each_missing_and_unordered_study() -> None:
    """One finding per order the PACS lacks (linked to it) and per study it holds alone."""
    missing, unordered = pacs_findings(_outcome(), {"A1": "CT"})
    assert (missing.kind, missing.accession, missing.modality, missing.link) == (
        PACS_MISSING,
        "A1",
        "CT",
        "/api/v1/orders/A1",
    )
    assert missing.evidence["study_dates"] == {"first": "2026-12-05", "last": "2026-12-07"}
    assert (unordered.kind, unordered.study_instance_uid, unordered.modality) == (
        PACS_UNORDERED,
        "9.9",
        "MR",
    )
    assert unordered.evidence["modalities"] == ["MR", "SR"] and unordered.link is None


def test_an_unreachable_pacs_is_one_finding_and_nothing_else() -> None:
    """No answer: the unreachable finding with the reason, no missing or unordered ones."""
    (finding,) = pacs_findings(_outcome(reachable=False, error="refused"), {})
    assert finding.kind == PACS_UNREACHABLE and finding.evidence["error"] == "refused"
    assert pacs_findings(None, {}) == []


def _finding(kind: str, minutes: int, accession: str = "A", modality: str = "CT") -> Finding:
    return Finding(kind, NOW - timedelta(minutes=minutes), accession=accession, modality=modality)


def test_select_filters_by_kind_since_and_modality_newest_first() -> None:
    """Each filter narrows; the order is newest first, then kind and accession."""
    found = [
        _finding(NO_IMAGES, 30, "A"),
        _finding(NO_SHOW, 10, "B", "MR"),
        _finding(NO_IMAGES, 10, "C"),
        _finding(NO_IMAGES, 300, "D"),
    ]
    assert [f.accession for f in select_findings(found)] == ["C", "B", "A", "D"]
    assert [f.accession for f in select_findings(found, kinds=[NO_SHOW])] == ["B"]
    since = NOW - timedelta(minutes=30)
    assert [f.accession for f in select_findings(found, since=since)] == ["C", "B", "A"]
    assert [f.accession for f in select_findings(found, modality="CT")] == ["C", "A", "D"]


def test_pages_follow_on_from_the_last_key_without_gaps_or_repeats() -> None:
    """Paging by key walks the whole sorted list once, whatever the page size."""
    found = select_findings([_finding(NO_IMAGES, m % 4, f"A{m}") for m in range(11)])
    for size in (1, 3, 11, 20):
        seen, after = [], None
        while True:
            page, after = page_findings(found, after, size)
            seen += page
            if after is None:
                break
            assert after == finding_key(page[-1])
        assert seen == found
