"""Request and response models of the integrity route."""

from __future__ import annotations

from pydantic import Field

from gateway.contract.types import Instant, Text, choices
from gateway.models.common import Paged, page_of
from mappers.integrity import KINDS, Finding


class IntegrityQuery(Paged):
    """Filters of the integrity findings."""

    kind: choices(KINDS, "Finding kinds (default all)") = ()  # type: ignore[valid-type]
    since: Instant | None = Field(
        None, description="Only findings whose problem began at or after this time."
    )
    modality: Text | None = Field(None, description="DICOM modality code, e.g. CT.")


IntegrityPage = page_of(Finding, "IntegrityPage")
