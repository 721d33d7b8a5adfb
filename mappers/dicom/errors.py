"""DICOM mapping failures, each carrying the DIMSE status to answer with (PS3.7 Annex C)."""

from __future__ import annotations

from mappers.errors import MappingError

# PS3.7 C.4 and PS3.4 F.7.2 status codes the gateway answers with.
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
DUPLICATE_SOP_INSTANCE = 0x0111
INVALID_ATTRIBUTE_VALUE = 0x0106
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
NOT_AUTHORIZED = 0x0124
CANNOT_UNDERSTAND = 0xC000  # C-STORE / C-FIND: error, cannot understand
IDENTIFIER_DOES_NOT_MATCH = 0xA900  # C-STORE / C-FIND: data set does not match SOP class
OUT_OF_RESOURCES = 0xA700


class DicomMappingError(MappingError):
    """A dataset the mappers cannot take; `status` is the DIMSE status to answer with."""

    def __init__(self, reason: str, status: int, *, tag: str = "") -> None:
        super().__init__(f"{tag}: {reason}" if tag else reason)
        self.status = status
        self.tag = tag
