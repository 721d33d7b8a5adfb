"""A received instance's header read in one pass over its bytes, keeping only what is indexed.

`dcmread` turns every element before the pixel data into an object, and the log's check for
bulk data then looks at each one again: together about two thirds of the gateway's own work
for a CT image, which holds a few hundred elements of which the index reads twenty. Here the
element headers are walked once (PS3.5 7.1, 7.5), values skipped by their length, sequences
of undefined length followed to their delimiter; the indexed elements are kept undecoded
(pydicom decodes each when the mapper reads it, character set and all), and the bytes before
the pixel data are the log's.

This is only a shortcut: `read_header` answers None, and the caller reads the file with
pydicom, for anything it does not take as it is: a big endian, deflated or malformed data
set, one holding bulk data before its pixel data (the log leaves that out, so it must be
re-encoded), and the dose reports, whose mapper reads their content tree.
`tests/listeners/test_dicom_header.py` holds it to pydicom's reading, values and log bytes.
"""

from __future__ import annotations

import functools
import mmap
import struct
from collections.abc import Iterable
from pathlib import Path

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import UID

from listeners.dicom_bulk import BULK_LIMIT, BULK_TAGS, BULK_VRS

_PREAMBLE = 128
_IMPLICIT_LITTLE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_PIXEL_DATA = 0x7FE00010
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_DELIMITERS = 0xFFFE  # the group of items and their delimiters
# Explicit VRs whose length takes four bytes after two reserved ones (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_BULK_VRS = frozenset(vr.encode() for vr in BULK_VRS)
_BULK_TAG_BYTES = tuple(struct.pack("<HH", tag >> 16, tag & 0xFFFF) for tag in BULK_TAGS)
_MAX_DEPTH = 8  # nested sequences of undefined length followed; deeper goes to pydicom
_SR_CLASSES = b"1.2.840.10008.5.1.4.1.1.88."  # structured reports, dose reports among them
_SOP_CLASS = 0x00080016
_CHARACTER_SET = 0x00080005
# Text VRs whose value pydicom keeps as a string (PN as a name that prints as one).
_PLAIN_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_SPECIAL = frozenset(b"\x1b\\~")  # ESC, the value delimiter, tilde: see _element
_LENGTH = struct.Struct("<I")
# The explicit VRs whose length takes two bytes (PS3.5 7.1.2, Table 7.1-2).
_SHORT_VRS = frozenset(
    vr.encode()
    for vr in [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "SL",
        "SS",
        "ST",
        "TM",
        "UI",
        "UL",
        "US",
    ]
)
_HEAD = struct.Struct("<HHI")  # tag group, element, and a 4-byte length (implicit VR)
_EXPLICIT_HEAD = struct.Struct("<HH2sH")  # tag, VR, and a 2-byte length


class _NotTaken(Exception):
    """The shortcut does not take this data set as it is: pydicom reads it."""


def tags_of(keywords: Iterable[str]) -> frozenset[int]:
    """The tags of `keywords`, plus Specific Character Set, which decodes their text."""
    tags = {tag_for_keyword(keyword) for keyword in keywords}
    if None in tags:
        raise ValueError(f"not a DICOM keyword among {sorted(keywords)}")
    return frozenset({_CHARACTER_SET, *tags})  # type: ignore[arg-type]


def read_header(path: Path, wanted: frozenset[int]) -> tuple[Dataset, bytes] | None:
    """The `wanted` top-level elements, undecoded, and the data set's bytes before its pixel
    data; None when pydicom must read the file (see the module's docstring)."""
    with path.open("rb") as file:
        try:
            view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return None
    with view:
        try:
            return _read(view, wanted)
        except (_NotTaken, struct.error, ValueError):  # UnicodeDecodeError is a ValueError
            return None


def _read(view: mmap.mmap, wanted: frozenset[int]) -> tuple[Dataset, bytes]:
    if view[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        raise _NotTaken
    meta, start = _walk_meta(view, _PREAMBLE + 4)
    declared = meta.get(0x00020000)  # File Meta Information Group Length
    if declared is None or len(declared[2]) != 4:
        raise _NotTaken
    if start != _PREAMBLE + 4 + 12 + struct.unpack("<I", declared[2])[0]:
        raise _NotTaken  # pydicom trusts the group length: so does the log
    syntax = UID(_text(meta.get(0x00020010)))
    if syntax == _BIG_ENDIAN or syntax.is_deflated or not syntax:
        raise _NotTaken
    implicit = syntax == _IMPLICIT_LITTLE
    walker = _Walker(view, implicit, wanted)
    end = walker.elements(start, len(view), depth=0)
    kept = walker.kept
    sop_class = kept.get(_SOP_CLASS)
    if sop_class is not None and _value(view, sop_class).startswith(_SR_CLASSES):
        raise _NotTaken
    dataset = Dataset(
        {
            tag: _element(tag, vr, view[at : at + length], at, implicit)
            for tag, (vr, length, at) in kept.items()
        }
    )
    dataset.file_meta = FileMetaDataset(
        {
            tag: RawDataElement(Tag(tag), vr, length, value, 0, False, True)
            for tag, (vr, length, value) in meta.items()
        }
    )
    dataset.set_original_encoding(implicit, True)
    return dataset, view[start:end]


def _walk_meta(view: mmap.mmap, at: int) -> tuple[dict[int, tuple[str, int, bytes]], int]:
    """File Meta Information (group 0002, always explicit VR little endian, PS3.10 7.1):
    its elements, and where the data set starts."""
    meta: dict[int, tuple[str, int, bytes]] = {}
    while at + 8 <= len(view):
        group, element, vr, length = _EXPLICIT_HEAD.unpack_from(view, at)
        if group != 0x0002:
            break
        at, length = _after_explicit_head(view, at, vr, length)
        if length == _UNDEFINED or at + length > len(view):
            raise _NotTaken
        meta[group << 16 | element] = (vr.decode("ascii"), length, view[at : at + length])
        at += length
    return meta, at


class _Walker:
    """One data set's walk: its bytes, its VR encoding, and the top-level elements kept."""

    def __init__(self, view: mmap.mmap, implicit: bool, wanted: frozenset[int]) -> None:
        self.view = view
        self.implicit = implicit
        self.wanted = wanted
        self.kept: dict[int, tuple[str | None, int, int]] = {}

    def elements(self, at: int, stop: int, depth: int) -> int:
        """Walk elements from `at` to `stop`, or to the delimiter that ends an item of
        undefined length (depth > 0) or the top-level pixel data; where the walk ended.

        The hot loop of the reader: a few hundred turns per image, so each does only what
        it must (one unpack, set lookups, the VR decoded only for a kept element)."""
        view, implicit = self.view, self.implicit
        wanted = self.wanted if depth == 0 else frozenset()
        while at < stop:
            if implicit:
                group, element, length = _HEAD.unpack_from(view, at)
                value_at = at + 8
            else:
                group, element, vr, length = _EXPLICIT_HEAD.unpack_from(view, at)
                value_at = at + 8
            tag = group << 16 | element
            if group == _DELIMITERS:
                if tag == _ITEM_END and depth > 0:
                    return at + 8
                raise _NotTaken  # an item or sequence delimiter out of place
            if tag == _PIXEL_DATA and depth == 0:
                return at
            if implicit:
                vr = _implicit_vr(tag)
            elif vr in _LONG_VRS:
                (length,) = _LENGTH.unpack_from(view, at + 8)
                value_at = at + 12
            elif vr not in _SHORT_VRS:
                raise _NotTaken  # not a VR: a damaged or mislabelled data set
            if tag in BULK_TAGS or (length > BULK_LIMIT and vr in _BULK_VRS):
                raise _NotTaken  # bulk before the pixel data: the log needs it re-encoded
            if length == _UNDEFINED:
                if vr not in (b"SQ", b"UN") or depth >= _MAX_DEPTH:
                    raise _NotTaken  # encapsulated data before the pixel data, or too deep
                at = self.sequence(value_at, stop, depth + 1)
                continue
            at = value_at + length
            if at > stop:
                raise _NotTaken
            if vr == b"SQ" and _may_hold_bulk(view, value_at, length):
                raise _NotTaken
            if tag in wanted:
                self.kept[tag] = (None if implicit else vr.decode("ascii"), length, value_at)
        if depth > 0:
            raise _NotTaken  # an item of undefined length with no delimiter
        return stop

    def sequence(self, at: int, stop: int, depth: int) -> int:
        """Items up to the Sequence Delimitation Item; where the sequence ends."""
        while at + 8 <= stop:
            group, element, length = _HEAD.unpack_from(self.view, at)
            tag = group << 16 | element
            if tag == _SEQUENCE_END:
                return at + 8
            if tag != _ITEM:
                raise _NotTaken
            if length == _UNDEFINED:
                at = self.elements(at + 8, stop, depth)
            elif at + 8 + length > stop or _may_hold_bulk(self.view, at + 8, length):
                raise _NotTaken
            else:
                at += 8 + length
        raise _NotTaken


def _may_hold_bulk(view: mmap.mmap, at: int, length: int) -> bool:
    """Whether a sequence's bytes of known length might hold bulk data; a false alarm only
    sends the file to pydicom."""
    if length > BULK_LIMIT:
        return True
    value = view[at : at + length]
    return any(tag in value for tag in _BULK_TAG_BYTES)


def _after_explicit_head(view: mmap.mmap, at: int, vr: bytes, short: int) -> tuple[int, int]:
    """Where an explicit VR element's value starts, and its length."""
    if vr in _LONG_VRS:
        return at + 12, _LENGTH.unpack_from(view, at + 8)[0]
    if vr not in _SHORT_VRS:
        raise _NotTaken
    return at + 8, short


@functools.lru_cache(maxsize=4096)  # bounded: a hostile sender may name any private tag
def _implicit_vr(tag: int) -> bytes:
    """The dictionary's VR for an implicit VR element; UN for a private or unknown one."""
    try:
        return dictionary_VR(tag).encode("ascii")
    except KeyError:
        return b"UN"


def _element(
    tag: int, vr: str | None, value: bytes, at: int, implicit: bool
) -> DataElement | RawDataElement:
    """A plain text value decoded here; anything else left for pydicom to decode on reading.

    Bytes below 0x80 other than ESC (which switches ISO 2022 character sets), the value
    delimiter and the tilde (overline in JIS X 0201) read the same in every character set
    DICOM defines (PS3.5 6.1), so such a value needs no Specific Character Set; padding is
    removed as pydicom removes it.
    """
    text_vr = vr or _implicit_vr(tag).decode("ascii")
    if text_vr in _PLAIN_TEXT_VRS and value.isascii() and not _SPECIAL.intersection(value):
        text = value.decode("ascii").rstrip("\0 " if text_vr == "UI" else " ")
        return DataElement(tag, text_vr, text, validation_mode=config.IGNORE)
    return RawDataElement(Tag(tag), vr, len(value), value, at, implicit, True)


def _value(view: mmap.mmap, element: tuple[str | None, int, int]) -> bytes:
    _, length, at = element
    return view[at : at + length]


def _text(element: tuple[str, int, bytes] | None) -> str:
    return "" if element is None else element[2].decode("ascii").rstrip("\0 ")
