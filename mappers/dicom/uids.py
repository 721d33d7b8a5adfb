"""The UID rule of PS3.5 9.1: what a received Study, Series or SOP Instance UID may look like.

A UID names files under the storage folder, so it is checked before it is used anywhere: a
value such as `../../x` or `/etc/x` must never become a path.
"""

from __future__ import annotations

import re

from mappers.dicom.errors import INVALID_ATTRIBUTE_VALUE, DicomMappingError

UID_MAX_LENGTH = 64  # PS3.5 9.1: a UID is at most 64 characters
# Digits and dots, no empty component. PS3.5 also forbids leading zeros in a component, but
# devices in the field send such UIDs; they are harmless as names, so they are taken.
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def is_uid(value: str) -> bool:
    """True when `value` is digits and dots, with no empty component, at most 64 long."""
    return len(value) <= UID_MAX_LENGTH and _UID.fullmatch(value) is not None


def check_uid(value: str, keyword: str, tag: str, *, status: int = INVALID_ATTRIBUTE_VALUE) -> str:
    """Return `value` when it is a valid UID.

    Raises:
        DicomMappingError: it is not (digits and dots, at most 64), naming the attribute.
    """
    if not is_uid(value):
        raise DicomMappingError(
            f"{keyword} is not a valid UID (digits and dots, at most {UID_MAX_LENGTH})",
            status,
            tag=f"{tag} {keyword}",
        )
    return value
