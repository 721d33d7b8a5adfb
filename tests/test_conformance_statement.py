"""The DICOM Conformance Statement tells the truth: the SOP classes and transfer syntaxes it
lists are exactly the ones the application entity offers."""

from __future__ import annotations

import re
from pathlib import Path

from listeners.dicom_server import application_entity
from listeners.options import DicomOptions

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


def test_every_sop_class_offered_is_stated_and_no_other() -> None:
    """Annex 8.1 plus the overview list exactly the abstract syntaxes the AE accepts."""
    offered, _ = _offered()
    stated = _uids(_section("### 8.1")) | _uids(_section("## 1. Conformance statement overview"))
    assert stated == offered


def test_every_transfer_syntax_accepted_is_stated() -> None:
    """Annex 8.2 lists exactly the transfer syntaxes the AE accepts."""
    _, syntaxes = _offered()
    assert _uids(_section("### 8.2")) == syntaxes


def test_the_readme_links_the_statement() -> None:
    """An administrator finds the statement from the README."""
    readme = (STATEMENT.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/dicom-conformance.md" in readme
