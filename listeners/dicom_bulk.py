"""What counts as bulk data: the values the message log leaves out of a received instance."""

BULK_LIMIT = 64 * 1024  # bytes: an OB, OW or UN value longer than this stays out of the log
# Values that are bulk data whatever their length: Pixel Data and its float forms (PS3.3
# C.7.6.3), Encapsulated Document (C.24.2), Waveform Data (C.10.9), Spectroscopy Data.
BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010, 0x00420011, 0x54001010, 0x56000020})
BULK_VRS = frozenset({"OB", "OW", "UN", "OF", "OD", "OL", "OV"})
