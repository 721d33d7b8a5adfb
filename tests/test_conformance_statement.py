"""The DICOM Conformance Statement tells the truth: the SOP classes and transfer syntaxes it
lists are exactly the ones the application entity offers."""

from __future__ import annotations

import re
from pathlib import Path

from pynetdicom.sop_class import InstanceAvailabilityNotification

from listeners.dicom_answers import SUCCESS
from listeners.dicom_server import application_entity
from listeners.options import DicomOptions
from mappers.dicom import errors as status
from mappers.dicom.availability import AVAILABILITIES

STATEMENT = Path(__file__).parents[1] / "docs" / "dicom-conformance.md"


def _section(title: str) -> str:
    text = STATEMENT.read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n### ", start + len(title))
    return text[start : end if end > 0 else None]


def _uids(text: str) -> set[str]:
    return set(re.findall(r"`(1\.2\.840\.10008[0-9.]*)`", text))


def _offered() -> tuple[set[str], set[str]]:
    ae = application_entity(DicomOptions())
    contexts = ae.supported_contexts
    syntaxes = {str(s) for context in contexts for s in context.transfer_syntax}
    return {str(context.abstract_syntax) for context in contexts}, syntaxes


def _provided(overview: str) -> str:
    """The overview table's rows where the gateway is the provider (SCP)."""
    return "\n".join(line for line in overview.splitlines() if not line.endswith("| no |"))


def test_every_sop_class_offered_is_stated_and_no_other() -> None:
    """Annex 8.1 plus the overview list exactly the abstract syntaxes the AE accepts."""
    offered, _ = _offered()
    overview = _provided(_section("## 1. Conformance statement overview"))
    assert _uids(_section("### 8.1")) | _uids(overview) == offered


def test_every_transfer_syntax_accepted_is_stated() -> None:
    """Annex 8.2 lists exactly the transfer syntaxes the AE accepts."""
    _, syntaxes = _offered()
    assert _uids(_section("### 8.2")) == syntaxes


def test_the_readme_links_the_statement() -> None:
    """An administrator finds the statement from the README."""
    readme = (STATEMENT.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/dicom-conformance.md" in readme


def _statuses(text: str) -> set[int]:
    return {int(code, 16) for code in re.findall(r"^\| `0x([0-9A-F]{4})` \|", text, re.MULTILINE)}


def _subsection(title: str) -> str:
    text = STATEMENT.read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n####", start + len(title))
    return text[start:end]


def test_the_ian_scp_is_offered_and_its_statuses_stated() -> None:
    """The AE accepts Instance Availability Notification, and the statement's IAN section lists
    exactly the statuses the handler answers (PS3.7 10.1.5)."""
    offered, _ = _offered()
    assert str(InstanceAvailabilityNotification) in offered
    section = _subsection("##### Instance Availability Notification SCP")
    answered = {
        SUCCESS,
        status.INVALID_ATTRIBUTE_VALUE,
        status.PROCESSING_FAILURE,
        status.MISSING_ATTRIBUTE,
        status.MISSING_ATTRIBUTE_VALUE,
        status.NOT_AUTHORIZED,
    }
    assert _statuses(section) == answered
    for term in AVAILABILITIES:
        assert f"`{term}`" in section


def test_the_worklist_section_states_each_matching_rule() -> None:
    """Every PS3.4 C.2.2.2 rule the matcher implements has its row in the worklist section."""
    section = _subsection("##### Modality Worklist SCP")
    for rule in ("C.2.2.2.1", "C.2.2.2.2", "C.2.2.2.3", "C.2.2.2.4", "C.2.2.2.5", "C.2.2.2.6"):
        assert rule in section, rule
    assert "[worklist.stations]" in section and "IPC-9" in section
