"""Turning received HL7 v2 bytes into text per MSH-18, and ACK text back into those bytes.

MSH-18 names the character set from HL7 table 0211. It is read from the raw bytes before
decoding: the MSH segment is ASCII in every supported 8-bit and multi-byte set. UTF-16 and
UTF-32 are not ASCII-compatible; they are recognised by a byte order mark or by the way the
first characters "MSH" are laid out, and then read after decoding.

Left out of table 0211 (no exact Python codec): "ISO IR14" (JIS X 0201 alone),
"ISO IR159" (JIS X 0212 alone), "CNS 11643-1992". Alternate sets named in MSH-18's later
repetitions (ISO 2022 code extension) are not applied: the first repetition decides.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from types import MappingProxyType

from mappers.errors import CharsetError, ErrorCode

__all__ = [
    "HL7_CHARSETS",
    "declared_charset",
    "decode_message",
    "encode_message",
    "without_nul",
]

HL7_CHARSETS: Mapping[str, str] = MappingProxyType(
    {
        "ASCII": "ascii",
        "8859/1": "latin-1",
        "8859/2": "iso8859-2",
        "8859/3": "iso8859-3",
        "8859/4": "iso8859-4",
        "8859/5": "iso8859-5",
        "8859/6": "iso8859-6",
        "8859/7": "iso8859-7",
        "8859/8": "iso8859-8",
        "8859/9": "iso8859-9",
        "8859/15": "iso8859-15",
        "ISO IR6": "ascii",
        "ISO IR100": "latin-1",
        "ISO IR192": "utf-8",
        "ISO IR87": "iso2022_jp",
        "UNICODE": "utf-8",
        "UNICODE UTF-8": "utf-8",
        "UNICODE UTF-16": "utf-16",
        "UNICODE UTF-32": "utf-32",
        "GB 18030-2000": "gb18030",
        "BIG-5": "big5",
        "KS X 1001": "euc_kr",
    }
)

# Byte layouts that can only be UTF-16/32: a byte order mark, or "MSH" with zero padding.
# UTF-32 first: its little-endian BOM begins with UTF-16's.
_WIDE: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32", "UNICODE UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UNICODE UTF-32"),
    ("MSH".encode("utf-32-le"), "utf-32-le", "UNICODE UTF-32"),
    ("MSH".encode("utf-32-be"), "utf-32-be", "UNICODE UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UNICODE UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UNICODE UTF-16"),
    ("MSH".encode("utf-16-le"), "utf-16-le", "UNICODE UTF-16"),
    ("MSH".encode("utf-16-be"), "utf-16-be", "UNICODE UTF-16"),
)
_WIDE_NAMES = frozenset(("UNICODE UTF-16", "UNICODE UTF-32"))
_MSH_18 = "MSH-18"


def declared_charset(frame: bytes) -> str | None:
    """The first repetition of MSH-18, stripped and upper-cased; None when absent or empty."""
    wide = _sniff_wide(frame)
    if wide is not None:
        codec, _ = wide
        return _msh_18(frame.decode(codec, errors="replace").lstrip("\ufeff"))
    if frame.startswith(codecs.BOM_UTF8):
        frame = frame[len(codecs.BOM_UTF8) :]
    # Only the MSH segment is decoded; latin-1 maps every byte, so this never fails.
    end = len(frame)
    for terminator in (b"\r", b"\n"):
        found = frame.find(terminator, 0, end)
        if found >= 0:
            end = found
    return _msh_18(frame[:end].decode("latin-1"))


def without_nul(text: str) -> str:
    """The text without NUL characters.

    HL7 v2 text never carries NUL (control characters travel escaped, v2.5 2.7), PostgreSQL
    text cannot hold it, and SQLite can: removing it here is the one rule that gives the same
    values on both stores. The message log keeps the received bytes, NUL included.
    """
    return text.replace("\x00", "") if "\x00" in text else text


def decode_message(frame: bytes, default_charset: str) -> tuple[str, str]:
    """Decode a received message per its MSH-18, else per `default_charset` (an HL7 name).

    Returns the text, without NUL characters, and the HL7 name of the set used.

    Raises:
        CharsetError: the set is unknown or unsupported, or the bytes are not valid in it.
    """
    wide = _sniff_wide(frame)
    if wide is not None:
        return _decode_wide(frame, *wide)
    name = declared_charset(frame) or default_charset.strip().upper()
    codec = _codec(name)
    if name in _WIDE_NAMES:
        raise CharsetError(
            f"{name} is declared but the bytes are not UTF-16/32 (no BOM, no 'MSH')", _MSH_18
        )
    if codec == "utf-8":
        codec = "utf-8-sig"  # a UTF-8 byte order mark is allowed and is not text
    try:
        return without_nul(frame.decode(codec)), name
    except UnicodeDecodeError as exc:
        raise CharsetError(f"bytes not valid in {name} at offset {exc.start}", _MSH_18) from exc


def encode_message(text: str, charset: str | None, default_charset: str) -> bytes:
    """Encode an outbound message (an ACK) in the set of the message it answers; "?" for misfits.

    Raises:
        CharsetError: the set is unknown.
    """
    name = (charset or default_charset).strip().upper()
    # Python's utf-16/32 codecs write a BOM, which our own decoder (and most engines) expect.
    return text.encode(_codec(name), errors="replace")


def _codec(name: str) -> str:
    """The Python codec for an HL7 table 0211 name.

    Raises:
        CharsetError: the name is not one we support.
    """
    codec = HL7_CHARSETS.get(name)
    if codec is None:
        raise CharsetError(
            f"unknown or unsupported character set {name!r}",
            _MSH_18,
            code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    return codec


def _sniff_wide(frame: bytes) -> tuple[str, str] | None:
    """The codec and HL7 name when the bytes can only be UTF-16 or UTF-32, else None."""
    # Fast exit: every ASCII-compatible message starts with b"MSH" (or a UTF-8 BOM).
    if frame[:1] == b"M" and frame[1:2] != b"\x00":
        return None
    for start, codec, name in _WIDE:
        if frame.startswith(start):
            return codec, name
    return None


def _decode_wide(frame: bytes, codec: str, name: str) -> tuple[str, str]:
    """Decode UTF-16/32 bytes and check that MSH-18, if given, agrees.

    Raises:
        CharsetError: the bytes are invalid, or MSH-18 names another set.
    """
    try:
        text = frame.decode(codec).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise CharsetError(f"bytes not valid in {name} at offset {exc.start}", _MSH_18) from exc
    declared = _msh_18(text)
    # "UNICODE" (v2.3-2.5) names no encoding form; the bytes settle it.
    if declared not in (None, name, "UNICODE"):
        raise CharsetError(f"MSH-18 declares {declared!r} but the bytes are {name}", _MSH_18)
    return without_nul(text), name


def _msh_18(msh: str) -> str | None:
    """The first repetition of MSH-18 from the text of an MSH segment (possibly more)."""
    msh = msh.split("\r", 1)[0].split("\n", 1)[0]
    if not msh.startswith("MSH") or len(msh) < 8:
        return None
    fields = msh.split(msh[3])
    # fields[1] is MSH-2, so MSH-n is fields[n - 1].
    if len(fields) < 18:
        return None
    # MSH-2's second character is the repetition separator; a short MSH-2 is refused later by
    # the reader, so here it only must not break the sniffing.
    name = fields[17]
    if len(fields[1]) > 1:
        name = name.split(fields[1][1], 1)[0]
    name = name.strip().upper()
    return name or None
