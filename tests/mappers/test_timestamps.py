"""DTM values read as UTC moments, and the study UID an accession gives, from cached helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mappers.errors import InvalidValue
from mappers.hl7v2.rules import UUID_UID_ROOT, study_uid_for
from mappers.hl7v2.timestamps import parse_dtm

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("20261122083000", OSLO, datetime(2026, 11, 22, 7, 30, tzinfo=UTC)),
        ("20261122083000", NEW_YORK, datetime(2026, 11, 22, 13, 30, tzinfo=UTC)),
        ("20261122083000+0100", NEW_YORK, datetime(2026, 11, 22, 7, 30, tzinfo=UTC)),
        ("2026", UTC, datetime(2026, 1, 1, tzinfo=UTC)),
        ("20261122083000.12", UTC, datetime(2026, 11, 22, 8, 30, 0, 120000, tzinfo=UTC)),
        (" 202611220830 ", UTC, datetime(2026, 11, 22, 8, 30, tzinfo=UTC)),
    ],
)
def test_a_dtm_is_read_in_the_zone_given_each_time(
    text: str, zone: ZoneInfo, expected: datetime
) -> None:
    """The same text read twice, and in another zone, gives each zone's moment."""
    assert parse_dtm(text, zone, "OBR-7") == expected
    assert parse_dtm(text, zone, "ORC-9") == expected


@pytest.mark.parametrize("text", ["2026112", "20261322", "20261122083000+1500", "noon"])
def test_a_bad_dtm_names_its_field_every_time(text: str) -> None:
    """A refused value names the field it came from, read first or again (not remembered)."""
    for location in ("OBR-7", "ORC-9"):
        with pytest.raises(InvalidValue) as raised:
            parse_dtm(text, UTC, location)
        assert str(raised.value.location) == location


def test_an_empty_dtm_is_none() -> None:
    """Blank is no time."""
    assert parse_dtm("  ", UTC, "OBR-7") is None


@pytest.mark.parametrize("accession", ["X1", "", "ACC-0000000001", "ÆØÅ/12345678901234567890"])
def test_the_uuid_root_study_uid_is_the_name_based_uuid(accession: str) -> None:
    """Under 2.25 the UID is the decimal of uuid5(OID namespace, 'accession:<accession>')."""
    expected = uuid.uuid5(uuid.NAMESPACE_OID, f"accession:{accession}").int
    assert study_uid_for(accession, UUID_UID_ROOT) == f"2.25.{expected}"
