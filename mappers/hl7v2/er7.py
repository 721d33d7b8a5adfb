"""Reading ER7 (pipe-and-hat) HL7 v2 text: segments, fields, repetitions, components, escapes.

Built for the hot path: a message is split into segments and fields eagerly (one `str.split`
each); repetitions, components and subcomponents are split only when read, and text is
unescaped only when it holds the escape character. Pure: no I/O, no clock, no logging.

Numbering follows HL7 v2.5 chapter 2: field n of PID is PID-n; for MSH, MSH-1 is the field
separator itself and MSH-2 the encoding characters, both read verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mappers.errors import Location, ParseError

__all__ = [
    "Delimiters",
    "Field",
    "Message",
    "Segment",
    "escape",
    "parse_message",
    "unescape",
]


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The five message delimiters of MSH-1 and MSH-2 (plus the v2.7 truncation character)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    # v2.7 added a 5th encoding character (truncation, usually "#"). It is kept so that MSH-2
    # can be written back, but values are never cut at it (HL7 v2.7 2.5.5.2).
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """The MSH-2 text, e.g. `^~\\&`."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


_DEFAULT = Delimiters()
# Segment IDs are three characters, a capital letter then capitals or digits (HL7 v2.5 2.5.2).
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
# A line that is not empty and not a well-formed segment other than MSH: one scan of the text
# decides whether the per-segment checks (and the MSH renumbering) are needed at all.
_BAD_LINE = re.compile(r"\r(?!\r|\Z|(?!MSH)[A-Z][A-Z0-9]{2}(?:\||\r|\Z))")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+\Z")
# Bytes of \Xhh\ that decode to text: printable latin-1 plus tab, LF and CR.
_HEX_TEXT = frozenset((0x09, 0x0A, 0x0D, *range(0x20, 0x7F), *range(0xA0, 0x100)))
# Formatting commands of FT (HL7 v2.5 2.7.6): all but .sp and .br change only layout.
_FORMATTING = (".sp", ".in", ".ti", ".sk", ".ce", ".fi", ".nf")


class Field:
    """One repetition of a field: its escaped text, split into components on demand."""

    __slots__ = ("_delimiters", "_verbatim", "raw")

    def __init__(self, raw: str, delimiters: Delimiters, verbatim: bool = False) -> None:
        self.raw = raw
        self._delimiters = delimiters
        # MSH-1 and MSH-2 hold the delimiters themselves: never split or unescaped.
        self._verbatim = verbatim

    def components(self) -> list[str]:
        """The raw (escaped) text of each component."""
        if self._verbatim:
            return [self.raw]
        return self.raw.split(self._delimiters.component)

    def value(self, component: int = 1, subcomponent: int = 1) -> str:
        """The unescaped text of one component or subcomponent; "" when absent."""
        if self._verbatim:
            return self.raw if component == 1 and subcomponent == 1 else ""
        return _pick(self.raw, self._delimiters, component, subcomponent)

    def text(self) -> str:
        """The whole repetition, unescaped when it has no components or subcomponents, else raw."""
        raw = self.raw
        d = self._delimiters
        if self._verbatim or d.component in raw or d.subcomponent in raw:
            return raw
        return unescape(raw, d)

    def __bool__(self) -> bool:
        return bool(self.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self.raw == other.raw and self._delimiters == other._delimiters

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"Field({self.raw!r})"


class Segment:
    """One segment: its name and its fields, numbered as the standard numbers them."""

    __slots__ = ("_delimiters", "_fields", "name")

    def __init__(self, name: str, fields: list[str], delimiters: Delimiters) -> None:
        self.name = name
        # fields[0] is the name, fields[n] the raw text of field n (for MSH, fields[1] is MSH-1).
        self._fields = fields
        self._delimiters = delimiters

    def raw(self, field: int) -> str:
        """The escaped text of field n with all its repetitions; "" when absent."""
        fields = self._fields
        return fields[field] if 0 < field < len(fields) else ""

    def repetitions(self, field: int) -> list[Field]:
        """Each repetition of field n; [] when the field is absent or empty."""
        raw = self.raw(field)
        if not raw:
            return []
        d = self._delimiters
        if field <= 2 and self.name == "MSH":
            return [Field(raw, d, verbatim=True)]
        return [Field(text, d) for text in raw.split(d.repetition)]

    def field(self, field: int, repetition: int = 1) -> Field:
        """One repetition of field n; an empty Field when absent."""
        reps = self.repetitions(field)
        if 0 < repetition <= len(reps):
            return reps[repetition - 1]
        return Field("", self._delimiters)

    def value(
        self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
    ) -> str:
        """The unescaped text at field.component.subcomponent of one repetition; "" when absent."""
        fields = self._fields
        if not 0 < field < len(fields):
            return ""
        raw = fields[field]
        if field <= 2 and self.name == "MSH":
            return raw if component == 1 and subcomponent == 1 and repetition == 1 else ""
        d = self._delimiters
        one = _nth(raw, d.repetition, repetition)
        return "" if one is None else _pick(one, d, component, subcomponent)

    def __len__(self) -> int:
        return len(self._fields) - 1

    def __repr__(self) -> str:
        return f"Segment({self._delimiters.field.join(self._fields)!r})"


class Message:
    """A parsed message: its delimiters and its segments in order."""

    __slots__ = ("_index", "delimiters", "segments")

    def __init__(self, delimiters: Delimiters, segments: tuple[Segment, ...]) -> None:
        self.delimiters = delimiters
        self.segments = segments
        self._index: dict[str, list[Segment]] | None = None

    def segments_named(self, name: str) -> list[Segment]:
        """Every segment with this name, in message order."""
        if self._index is None:
            index: dict[str, list[Segment]] = {}
            for segment in self.segments:
                index.setdefault(segment.name, []).append(segment)
            self._index = index
        return list(self._index.get(name, ()))

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        """The n-th segment with this name (1 = the first); None when there is none."""
        if occurrence == 1:
            # The common question ("the PID"): a scan of a dozen segments beats building an index.
            for segment in self.segments:
                if segment.name == name:
                    return segment
            return None
        named = self.segments_named(name)
        return named[occurrence - 1] if 0 < occurrence <= len(named) else None

    def value(self, location: str) -> str:
        """The unescaped text at a location such as `PID-5.1`, `PID-3[2].4.1`, `OBR(2)-4.2`.

        A location without component reads component 1; "" when the place is absent.

        Raises:
            ValueError: the text is not a location, or it names no field.
        """
        where = Location.parse(location)
        if where.field is None:
            raise ValueError(f"location names no field: {location!r}")
        segment = self.segment(where.segment, where.sequence)
        if segment is None:
            return ""
        return segment.value(
            where.field, where.component or 1, where.subcomponent or 1, where.repetition
        )

    def __repr__(self) -> str:
        return f"Message({[s.name for s in self.segments]!r})"


def parse_message(text: str) -> Message:
    """Read one ER7 message; segments may end in CR, LF or CRLF.

    Raises:
        ParseError: no MSH first, bad MSH-1/MSH-2 delimiters, or a bad segment name.
    """
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    # Engines differ on what they put around a message: leading blank lines, trailing NULs.
    text = text.lstrip("\r").rstrip("\x00")
    if not text.startswith("MSH"):
        raise ParseError("message does not start with an MSH segment", "MSH")
    lines = text.split("\r")
    delimiters, msh_fields = _read_msh(lines[0])
    fs = delimiters.field
    segments = [Segment("MSH", msh_fields, delimiters)]
    if fs == "|" and _BAD_LINE.search(text) is None:
        # The common case, every line a well-formed segment: one split per line, no checks.
        segments += [Segment(f[0], f, delimiters) for f in (s.split(fs) for s in lines[1:] if s)]
    else:
        segments += _read_segments(lines, delimiters)
    return Message(delimiters, tuple(segments))


def _read_segments(lines: list[str], delimiters: Delimiters) -> list[Segment]:
    """The segments after MSH, checking each name and skipping blank lines.

    Raises:
        ParseError: a segment name is not [A-Z][A-Z0-9]{2}.
    """
    fs = delimiters.field
    segments = []
    for position, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split(fs)
        name = fields[0]
        if _SEGMENT_NAME.match(name) is None:
            if not line.strip(" \t\x00"):
                continue  # a blank line: whitespace or padding between segments
            raise ParseError(
                f"segment {position} has name {name[:10]!r}, not 3 characters [A-Z][A-Z0-9]{{2}}"
            )
        if name == "MSH":
            fields.insert(1, fs)
        segments.append(Segment(name, fields, delimiters))
    return segments


def _read_msh(line: str) -> tuple[Delimiters, list[str]]:
    """The delimiters of MSH-1/MSH-2 and the MSH fields numbered from MSH-1.

    Raises:
        ParseError: the separators are missing, too few, too many or repeated.
    """
    if len(line) < 4:
        raise ParseError("MSH has no field separator", "MSH-1")
    fs = line[3]
    fields = line.split(fs)
    # fields[0] is "MSH" and fields[1] MSH-2: MSH-1 is the separator between them.
    encoding = fields[1]
    fields.insert(1, fs)
    if fs == "|" and encoding == "^~\\&":
        return _DEFAULT, fields
    if not 4 <= len(encoding) <= 5:
        raise ParseError(
            f"MSH-2 must hold 4 or 5 encoding characters, not {len(encoding)}", "MSH-2"
        )
    delimiters = fs + encoding
    if len(set(delimiters)) != len(delimiters) or any(c.isspace() for c in delimiters):
        raise ParseError(f"delimiters must be distinct and not blank: {delimiters!r}", "MSH-2")
    return Delimiters(fs, encoding[0], encoding[1], encoding[2], encoding[3], encoding[4:]), fields


def _nth(raw: str, separator: str, n: int) -> str | None:
    """The n-th (1-based) part of `raw` split at `separator`; None when there is none."""
    if separator not in raw:
        return raw if n == 1 else None
    parts = raw.split(separator)
    return parts[n - 1] if 0 < n <= len(parts) else None


def _pick(raw: str, d: Delimiters, component: int, subcomponent: int) -> str:
    """The unescaped subcomponent of one field repetition's raw text; "" when absent."""
    part = _nth(raw, d.component, component)
    if part is not None:
        part = _nth(part, d.subcomponent, subcomponent)
    if not part:
        return ""
    return part if d.escape not in part else _unescape(part, d)


def unescape(text: str, delimiters: Delimiters) -> str:
    r"""Replace HL7 escape sequences (v2.5 2.7) by the text they stand for; never raises.

    \F\ \S\ \T\ \R\ \E\ (and \P\ when a truncation character is set) become the delimiters;
    \.br\ and \.sp\ a line break "\n"; \H\ \N\ and the other formatting commands are dropped;
    \Xhh...\ becomes one latin-1 character per byte when every byte is printable (or tab, LF,
    CR), else stays as it is; \Cxxyy\, \Mxxyyzz\, unknown and unterminated sequences stay
    verbatim.
    """
    if delimiters.escape not in text:
        return text
    return _unescape(text, delimiters)


def _unescape(text: str, d: Delimiters) -> str:
    """The scanning half of `unescape`, for text that holds the escape character."""
    esc = d.escape
    out: list[str] = []
    start = 0
    while True:
        opening = text.find(esc, start)
        if opening < 0:
            out.append(text[start:])
            break
        closing = text.find(esc, opening + 1)
        if closing < 0:
            out.append(text[start:])  # unterminated: keep the rest as received
            break
        out.append(text[start:opening])
        out.append(_expand(text[opening + 1 : closing], d))
        start = closing + 1
    return "".join(out)


def _expand(code: str, d: Delimiters) -> str:
    """The text one escape sequence (without its escape characters) stands for."""
    if code == "F":
        return d.field
    if code == "S":
        return d.component
    if code == "T":
        return d.subcomponent
    if code == "R":
        return d.repetition
    if code == "E":
        return d.escape
    if code in ("H", "N"):
        return ""  # highlighting on/off: no meaning in plain text
    if code == "P" and d.truncation:
        return d.truncation
    if code.startswith(".br"):
        return "\n"
    if code.startswith(_FORMATTING):
        return "\n" if code.startswith(".sp") else ""
    if code.startswith("X") and _HEX.match(code, 1):
        data = bytes.fromhex(code[1:])
        if all(byte in _HEX_TEXT for byte in data):
            return data.decode("latin-1")
    # \Cxxyy\ and \Mxxyyzz\ switch character sets (ISO 2022): kept for a charset-aware reader.
    return d.escape + code + d.escape


def escape(text: str, delimiters: Delimiters) -> str:
    r"""Escape delimiters as \F\ \S\ \T\ \R\ \E\ and line breaks (CR, LF, CRLF) as \.br\.

    Line breaks must never reach a message unescaped: CR ends a segment.
    """
    d = delimiters
    table = {
        ord(d.escape): f"{d.escape}E{d.escape}",
        ord(d.field): f"{d.escape}F{d.escape}",
        ord(d.component): f"{d.escape}S{d.escape}",
        ord(d.subcomponent): f"{d.escape}T{d.escape}",
        ord(d.repetition): f"{d.escape}R{d.escape}",
        ord("\n"): f"{d.escape}.br{d.escape}",
    }
    if d.truncation:
        table[ord(d.truncation)] = f"{d.escape}P{d.escape}"
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(table)
