"""Site rules for reading HL7 v2: code tables and field choices that differ between sites.

Local status codes differ between RIS vendors, so the mapping from codes to milestones is data
(DESIGN.md, "The exam lifecycle"). The defaults follow the HL7 tables named beside them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from enum import StrEnum

from mappers.events import Milestone, ReportStatus


class OrderAction(StrEnum):
    """What an ORC-1 order control code asks of the order."""

    NEW = "new"
    CHANGE = "change"
    CANCEL = "cancel"
    DISCONTINUE = "discontinue"
    STATUS = "status"


# ORC-1, HL7 table 0119.
DEFAULT_ORDER_CONTROL: Mapping[str, str] = {
    "NW": "new",
    "SN": "new",
    "XO": "change",
    "XX": "change",
    "CA": "cancel",
    "OC": "cancel",
    "CR": "cancel",
    "DC": "discontinue",
    "OD": "discontinue",
    "DR": "discontinue",
    "SC": "status",
}

# ORC-5 order status (HL7 table 0038) on an ORC-1 SC message.
DEFAULT_ORDER_STATUS: Mapping[str, str] = {
    "SC": "scheduled",
    "IP": "exam_started",
    "CM": "exam_completed",
    "CA": "cancelled",
    "DC": "discontinued",
}

# OBR-25 result status (HL7 table 0123) on ORU^R01.
DEFAULT_RESULT_STATUS: Mapping[str, str] = {
    "P": "preliminary",
    "F": "final",
    "C": "corrected",
}

# SCH-25 filler status (HL7 table 0278) on SIU; "no_show" records a no-show.
DEFAULT_SCHEDULE_STATUS: Mapping[str, str] = {
    "BOOKED": "scheduled",
    "ARRIVED": "arrived",
    "STARTED": "exam_started",
    "COMPLETE": "exam_completed",
    "NOSHOW": "no_show",
}

NO_SHOW = "no_show"

# Where the accession number is found, first non-empty wins.
DEFAULT_ACCESSION_FIELDS: tuple[str, ...] = ("IPC-1", "OBR-18", "OBR-3", "ORC-3")

# The UUID-derived UID root of DICOM PS3.5 B.2: needs no registration.
UUID_UID_ROOT = "2.25"


@dataclass(frozen=True)
class MappingRules:
    """Everything site-specific the HL7 mappers need, passed in (they read no settings)."""

    facility_tz: tzinfo = UTC
    order_control: Mapping[str, OrderAction] = field(
        default_factory=lambda: {k: OrderAction(v) for k, v in DEFAULT_ORDER_CONTROL.items()}
    )
    order_status: Mapping[str, Milestone] = field(
        default_factory=lambda: {k: Milestone(v) for k, v in DEFAULT_ORDER_STATUS.items()}
    )
    result_status: Mapping[str, ReportStatus] = field(
        default_factory=lambda: {k: ReportStatus(v) for k, v in DEFAULT_RESULT_STATUS.items()}
    )
    # Values are Milestone names or NO_SHOW.
    schedule_status: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_SCHEDULE_STATUS)
    )
    accession_fields: tuple[str, ...] = DEFAULT_ACCESSION_FIELDS
    # MSH-3 namespace id -> that sender's own accession field order.
    accession_fields_by_sender: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    uid_root: str = UUID_UID_ROOT

    def accession_fields_for(self, sending_application: str) -> tuple[str, ...]:
        """The accession field order for a sender (by MSH-3.1), or the default one."""
        namespace = sending_application.split("^", 1)[0].strip()
        return self.accession_fields_by_sender.get(namespace, self.accession_fields)


_OID_NAMESPACE = uuid.NAMESPACE_OID.bytes
_VERSION_5 = (0xFFFFFFFF_FFFF_0FFF_3FFF_FFFFFFFFFFFF, 0x5000_8000_000000000000)  # mask, bits


def _uuid5_int(name: str) -> int:
    """`uuid.uuid5(NAMESPACE_OID, name).int` (RFC 4122 4.3), without building UUID objects:
    a SHA-1 of namespace and name, its version and variant bits set."""
    digest = hashlib.sha1(_OID_NAMESPACE + name.encode(), usedforsecurity=False).digest()
    mask, bits = _VERSION_5
    return (int.from_bytes(digest[:16], "big") & mask) | bits


def study_uid_for(accession: str, uid_root: str) -> str:
    """The Study Instance UID the worklist gives an order: stable, derived from its accession.

    Under the UUID root 2.25 it is the decimal of a name-based UUID (PS3.5 B.2); under an
    organisation's root, that root and a decimal of the accession's digest, at most 64
    characters (PS3.5 9.1).
    """
    if uid_root == UUID_UID_ROOT:
        return f"2.25.{_uuid5_int(f'accession:{accession}')}"
    digest = int.from_bytes(hashlib.sha256(accession.encode()).digest()[:16], "big")
    room = 64 - len(uid_root) - 1
    return f"{uid_root}.{str(digest)[:room].lstrip('0') or '0'}"
