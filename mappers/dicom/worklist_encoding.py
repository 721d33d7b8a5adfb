"""Worklist answers encoded straight to the wire (PS3.5 7.1, 7.5): what pydicom writes, faster.

A worklist answer holds hundreds of items that all answer the same keys. Building each one as
a pydicom Dataset, then having pydicom encode it, cost about 2 ms of CPU per item (half each),
most of it in per-attribute keyword lookups and value validation. Here the keys asked are read
once per query (`plan_worklist_answer`); each item's values are then encoded to bytes directly
and handed back as a Dataset of raw elements, which pydicom writes unchanged when its encoding
matches the transfer syntax (`Dataset.set_original_encoding`).

The bytes are exactly those pydicom writes for `worklist.worklist_response` (tests compare them
for every transfer syntax). Where that is not certain, the answer is built by
`worklist_response` itself: an asked key whose VR is ambiguous ("US or SS"), a non-ASCII value
in a VR that takes no character set, or a value too long for a 16-bit explicit VR length.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import CUSTOMIZABLE_CHARSET_VR, EXPLICIT_VR_LENGTH_32

from mappers.dicom.worklist import UTF8, worklist_response
from mappers.dicom.worklist_model import WorklistItem
from mappers.dicom.worklist_values import item_values, step_values

_SKIPPED = ("SpecificCharacterSet", "ScheduledProcedureStepSequence")
_STEP_SEQUENCE = 0x00400100
_CHARACTER_SET = 0x00080005
_ITEM = 0xFFFEE000
_UTF8_ENCODINGS = convert_encodings(UTF8)
_UTF8_VALUE = UTF8.encode("ascii")  # "ISO_IR 192": even, no padding
_TEXT_VRS = frozenset(str(vr) for vr in CUSTOMIZABLE_CHARSET_VR)
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_PLAIN_VR_LENGTH = 2  # "US or SS" and the like are ambiguous; pydicom resolves them itself
_MAX_SHORT_LENGTH = 0xFFFF


@dataclass(frozen=True, slots=True)
class _Key:
    """One attribute an answer holds: its tag, VR, and the keyword it is filled from ("" when
    the gateway does not know it and answers it empty)."""

    tag: int
    vr: str
    keyword: str


@dataclass(frozen=True, slots=True)
class WorklistAnswerPlan:
    """The keys a worklist query asks, read once for all of its answers."""

    identifier: Dataset
    keys: tuple[_Key, ...]
    step: tuple[_Key, ...] | None  # None: no Scheduled Procedure Step Sequence asked
    exact: bool  # False: some key cannot be encoded here; worklist_response answers instead


class _NotExact(Exception):
    """A value this encoder cannot write exactly as pydicom would."""


def plan_worklist_answer(identifier: Dataset) -> WorklistAnswerPlan:
    """Read which keys a worklist C-FIND identifier asks for, at top level and in its step."""
    top_values = item_values(_SAMPLE, _SAMPLE.scheduled_start)
    keys = _keys(identifier, top_values)
    step: tuple[_Key, ...] | None = None
    if "ScheduledProcedureStepSequence" in identifier:
        asked = identifier.ScheduledProcedureStepSequence or []
        step_known = step_values(_SAMPLE, _SAMPLE.scheduled_start)
        # An empty sequence asks for the whole sequence (C.2.2.2.6): every attribute we know.
        step = _keys(asked[0], step_known) if asked else _known_keys(step_known)
    exact = all(len(key.vr) == _PLAIN_VR_LENGTH for key in (*keys, *(step or ())))
    return WorklistAnswerPlan(identifier, keys, step, exact)


def encode_worklist_response(
    item: WorklistItem,
    plan: WorklistAnswerPlan,
    *,
    facility_tz: tzinfo,
    implicit_vr: bool,
    little_endian: bool,
) -> Dataset:
    """Answer one worklist item as `worklist_response` does, its values already encoded in the
    given transfer syntax (raw elements), so that writing the answer copies bytes."""
    encoder = WorklistEncoder(
        plan, facility_tz=facility_tz, implicit_vr=implicit_vr, little_endian=little_endian
    )
    return encoder.response(item)


def encode_worklist_identifier(
    item: WorklistItem,
    plan: WorklistAnswerPlan,
    *,
    facility_tz: tzinfo,
    implicit_vr: bool,
    little_endian: bool,
) -> bytes | None:
    """The whole answer identifier as the bytes pydicom writes for `worklist_response`; None
    where it cannot be encoded here exactly (see `WorklistEncoder`)."""
    encoder = WorklistEncoder(
        plan, facility_tz=facility_tz, implicit_vr=implicit_vr, little_endian=little_endian
    )
    return encoder.identifier(item)


class WorklistEncoder:
    """One query's answers in one transfer syntax, as whole identifiers: the element headers
    are made once for the query, so each item costs only its values."""

    def __init__(
        self,
        plan: WorklistAnswerPlan,
        *,
        facility_tz: tzinfo,
        implicit_vr: bool,
        little_endian: bool,
    ) -> None:
        self._plan = plan
        self._tz = facility_tz
        self._implicit = implicit_vr
        self._little = little_endian
        # ASCII first: almost every answer is, and then it is written as Latin-1 would be;
        # a text that is not ASCII has the answer written again in UTF-8 (worklist_response's
        # rule: UTF-8 only when some value answered is not ASCII).
        self._ascii = _Writer(implicit_vr, little_endian, "ascii")
        self._utf8 = _Writer(implicit_vr, little_endian, "utf_8")
        tags = [key.tag for key in plan.keys]
        self._at = {
            _STEP_SEQUENCE: bisect_left(tags, _STEP_SEQUENCE),
            _CHARACTER_SET: bisect_left(tags, _CHARACTER_SET),
        }

    def identifier(self, item: WorklistItem) -> bytes | None:
        """The answer for `item` as the bytes pydicom writes for `worklist_response`, so that
        nothing is built or written per item but these bytes; None where it cannot be
        encoded here exactly, and the caller answers with `response`."""
        if not self._plan.exact:
            return None
        try:
            return self._whole(item)
        except _NotExact:
            return None

    def _whole(self, item: WorklistItem) -> bytes:
        writer, parts = self._parts(item)
        keyed = len(self._plan.keys)
        elements = [writer.element(*part) for part in parts[:keyed]]
        # The step sequence, then the character set: the later place first keeps the other's.
        for tag, vr, value in parts[keyed:]:
            elements.insert(self._at[tag], writer.element(tag, vr, value))
        return b"".join(elements)

    def response(self, item: WorklistItem) -> Dataset:
        """Answer `item` as `worklist_response` does, its values already encoded in the
        transfer syntax (raw elements), so that writing the answer copies bytes."""
        if self._plan.exact:
            try:
                return self._raw(item)
            except _NotExact:
                pass
        return worklist_response(item, self._plan.identifier, facility_tz=self._tz)

    def _raw(self, item: WorklistItem) -> Dataset:
        writer, parts = self._parts(item)
        elements = {BaseTag(tag): writer.raw_bytes(tag, vr, v) for tag, vr, v in parts}
        answer = Dataset(elements)  # pydicom writes in tag order whatever the order here
        utf8 = writer.encoding == "utf_8"
        answer.set_original_encoding(
            self._implicit, self._little, _UTF8_ENCODINGS if utf8 else default_encoding
        )
        return answer

    def _parts(self, item: WorklistItem) -> tuple[_Writer, list[tuple[int, str, bytes]]]:
        """Each answered element's tag, VR and encoded value, the keys asked in tag order,
        then the step sequence and the character set when answered; and their writer.

        Raises:
            _NotExact: a value this encoder cannot write exactly as pydicom would.
        """
        local_start = item.scheduled_start.astimezone(self._tz)
        values = item_values(item, local_start)
        steps = step_values(item, local_start) if self._plan.step is not None else {}
        try:
            return self._ascii, self._values(self._ascii, values, steps)
        except UnicodeEncodeError:
            parts = self._values(self._utf8, values, steps)
            return self._utf8, [*parts, (_CHARACTER_SET, "CS", _UTF8_VALUE)]

    def _values(
        self, writer: _Writer, values: Mapping[str, object], steps: Mapping[str, object]
    ) -> list[tuple[int, str, bytes]]:
        plan = self._plan
        parts = [
            (key.tag, key.vr, writer.value(key.vr, values.get(key.keyword, "")))
            for key in plan.keys
        ]
        if plan.step is not None:
            parts.append((_STEP_SEQUENCE, "SQ", writer.item(writer.dataset(plan.step, steps))))
        return parts


# --- the plan ----------------------------------------------------------------------------


def _keys(asked: Dataset, known: Mapping[str, object]) -> tuple[_Key, ...]:
    """The keys of `asked` in tag order: known ones by their dictionary VR, others empty as
    they came (the rules of worklist._answer)."""
    keys = []
    for element in asked:
        keyword = element.keyword
        tag = int(element.tag)
        if keyword in _SKIPPED or _is_group_length(tag):
            continue
        if keyword in known:
            keys.append(_Key(tag, dictionary_VR(tag), keyword))
        else:
            keys.append(_Key(tag, str(element.VR), ""))
    return tuple(sorted(keys, key=lambda key: key.tag))


def _known_keys(known: Mapping[str, object]) -> tuple[_Key, ...]:
    keys = []
    for keyword in known:
        tag = tag_for_keyword(keyword)
        assert tag is not None, keyword  # our own keywords, all in the dictionary
        keys.append(_Key(tag, dictionary_VR(tag), keyword))
    return tuple(sorted(keys, key=lambda key: key.tag))


def _is_group_length(tag: int) -> bool:
    """Retired group lengths (gggg,0000) are never written (PS3.5 7.2)."""
    return tag & 0xFFFF == 0 and tag >> 16 > 6


# --- one answer --------------------------------------------------------------------------


class _Writer:
    """Encodes values and elements in one transfer syntax and character set."""

    def __init__(self, implicit_vr: bool, little_endian: bool, encoding: str) -> None:
        self.encoding = encoding
        self._implicit = implicit_vr
        self._little = little_endian
        order = "<" if little_endian else ">"
        self._tag = struct.Struct(f"{order}HH")
        self._long = struct.Struct(f"{order}L")
        self._short = struct.Struct(f"{order}H")
        self._heads: dict[tuple[int, str], tuple[bytes, bool]] = {}

    def raw_bytes(self, tag: int, vr: str, value: bytes) -> RawDataElement:
        """A top-level element: pydicom writes its header, the value bytes as they are."""
        if not self._implicit and vr not in _LONG_VRS and len(value) > _MAX_SHORT_LENGTH:
            raise _NotExact(vr)
        return RawDataElement(BaseTag(tag), vr, len(value), value, 0, self._implicit, self._little)

    def value(self, vr: str, value: object) -> bytes:
        """The value field of one element, padded to even length as pydicom pads it."""
        if vr == "SQ":
            parts = value if isinstance(value, list) else []
            return b"".join(self.item(self.dataset(_item_keys(part), part)) for part in parts)
        if isinstance(value, list):
            raise _NotExact(vr)  # a sequence value where the query had another VR
        text = str(value)
        if vr in _TEXT_VRS:
            encoded = text.encode(self.encoding)
            return encoded + b" " if len(encoded) % 2 else encoded
        if not text.isascii():
            raise _NotExact(vr)  # pydicom writes these in its default repertoire
        if len(text) % 2:
            text += "\0" if vr == "UI" else " "
        return text.encode("ascii")

    def dataset(self, keys: tuple[_Key, ...], values: Mapping[str, object]) -> bytes:
        """A nested dataset: each element with its header."""
        return b"".join(
            self.element(key.tag, key.vr, self.value(key.vr, values.get(key.keyword, "")))
            for key in keys
        )

    def element(self, tag: int, vr: str, value: bytes) -> bytes:
        head = self._heads.get((tag, vr))
        if head is None:
            head = self._heads[(tag, vr)] = self._head(tag, vr)
        header, long_length = head
        if long_length:
            return header + self._long.pack(len(value)) + value
        if len(value) > _MAX_SHORT_LENGTH:
            raise _NotExact(vr)
        return header + self._short.pack(len(value)) + value

    def _head(self, tag: int, vr: str) -> tuple[bytes, bool]:
        """An element's header before its length, and whether the length takes 32 bits."""
        header = self._tag.pack(tag >> 16, tag & 0xFFFF)
        if self._implicit:
            return header, True
        if vr in _LONG_VRS:
            return header + vr.encode("ascii") + b"\0\0", True
        return header + vr.encode("ascii"), False

    def item(self, dataset: bytes) -> bytes:
        """A sequence item of defined length (PS3.5 7.5.1), as pydicom writes one."""
        return self._tag.pack(_ITEM >> 16, _ITEM & 0xFFFF) + self._long.pack(len(dataset)) + dataset


def _item_keys(values: Mapping[str, object]) -> tuple[_Key, ...]:
    """The keys of a sequence item we fill (a code), in tag order."""
    return _KNOWN_ITEM_KEYS.get(tuple(values)) or _known_keys(values)


# A stand-in item whose values name every key the gateway can fill.
_SAMPLE = WorklistItem(
    accession="",
    requested_procedure_id="",
    procedure_code="",
    procedure_text="",
    procedure_system="",
    study_instance_uid="",
    modality="",
    priority="",
    scheduled_start=datetime(2000, 1, 1, tzinfo=UTC),
    scheduled_station="",
    scheduled_duration_minutes=None,
    referring_physician_family="",
    referring_physician_given="",
    patient_id="",
    patient_authority="",
    patient_family="",
    patient_given="",
    patient_middle="",
    birth_date=None,
    sex="",
    reason="",
)
_CODE_KEYWORDS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")
_KNOWN_ITEM_KEYS = {_CODE_KEYWORDS: _known_keys(dict.fromkeys(_CODE_KEYWORDS))}
