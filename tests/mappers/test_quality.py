"""What a message says of its sender's data quality: its own time and the recommended fields
it leaves empty, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.header import header_from_segment
from mappers.hl7v2.quality import message_time, missing_recommended

ORC_OK = "ORC|NW|P1|F1||||^^^20260314073000^^S|||||1234^WELBY^MARCUS"
OBR_OK = "OBR|1|P1|F1|70450^CT HEAD^CPT4"
PV1_OK = "PV1|1|E"


def _message(kind: str, *segments: str, sent: str = "20260314073000") -> str:
    msh = f"MSH|^~\\&|RIS|H|GW|RAD|{sent}||{kind}|C1|P|2.3.1"
    return "\r".join((msh, "PID|1||M1", *segments)) + "\r"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        (_message("ORM^O01", PV1_OK, ORC_OK, OBR_OK), ()),
        (_message("ORM^O01", ORC_OK, OBR_OK), ("PV1-2",)),
        (_message("ORM^O01", "PV1|1|", ORC_OK, OBR_OK), ("PV1-2",)),
        (_message("ORM^O01", PV1_OK, "ORC|NW|P1|F1", OBR_OK), ("ORC-12", "priority")),
        # The priority may come in OBR-27.6 (v2.3.1) instead of ORC-7.6.
        (
            _message(
                "ORM^O01",
                PV1_OK,
                "ORC|NW|P1|F1" + "|" * 9 + "1234",
                f"{OBR_OK}" + "|" * 23 + "^^^^^S",
            ),
            (),
        ),
        (_message("OMI^O23", PV1_OK, ORC_OK, "OBR|1|P1|F1|"), ("OBR-4",)),
        # Two orders: the second without a procedure code counts the message as missing it.
        (_message("ORM^O01", PV1_OK, ORC_OK, OBR_OK, ORC_OK, "OBR|2|P2|F2|"), ("OBR-4",)),
        (_message("ORU^R01", OBR_OK), ("PV1-2",)),
        (_message("ADT^A04", PV1_OK), ()),
        (_message("SIU^S12"), ("PV1-2",)),
        (_message("MDM^T02"), ()),  # nothing recommended for a type the gateway does not take
    ],
)
def test_missing_recommended_fields(text: str, missing: tuple[str, ...]) -> None:
    """Each recommended field left empty is named once, in a fixed order."""
    message = parse_message(text)
    assert missing_recommended(message, header_from_segment(message)) == missing


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("20260314073000", datetime(2026, 3, 14, 11, 30, tzinfo=UTC)),  # New York, EDT
        ("20260314073000+0100", datetime(2026, 3, 14, 6, 30, tzinfo=UTC)),
        ("", None),
        ("not a time", None),
    ],
)
def test_message_time(sent: str, expected: datetime | None) -> None:
    """MSH-7 in the facility zone unless it has an offset; unreadable or empty gives None."""
    message = parse_message(_message("ADT^A04", PV1_OK, sent=sent))
    assert message_time(header_from_segment(message), ZoneInfo("America/New_York")) == expected
