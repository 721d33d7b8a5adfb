"""Reading attribute values out of a pydicom Dataset the way every DICOM mapper needs."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


def text(ds: Dataset, keyword: str) -> str:
    """An attribute's value as text, padding removed (PS3.5 6.2); the first of several values.

    NUL is never text: it pads UIDs, and anywhere else it is removed, the same rule HL7 values
    follow (PostgreSQL text cannot hold it, and both stores must keep the same value).
    """
    value = ds.get(keyword, "")
    if isinstance(value, MultiValue | list):
        value = value[0] if value else ""
    return "" if value is None else str(value).replace("\x00", "").strip(" ")
