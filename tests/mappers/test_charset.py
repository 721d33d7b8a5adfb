"""Decoding received HL7 bytes per MSH-18, and encoding ACKs back."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from mappers.errors import CharsetError, ErrorCode, Location
from mappers.hl7v2.charset import (
    HL7_CHARSETS,
    declared_charset,
    decode_message,
    encode_message,
)
from mappers.hl7v2.er7 import parse_message

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"
MSH_18 = Location.parse("MSH-18")


def message(charset: str, name: str) -> str:
    """A small ORM whose MSH-18 is `charset` and whose patient is called `name`."""
    return (
        f"MSH|^~\\&|RIS|GENERAL_HOSP|IMAGING_GW|RADIOLOGY|20240312091233||ORM^O01|C1|P|2.5.1"
        f"||||||{charset}\r"
        f"PID|1||M1^^^GENERAL_HOSP^MR||{name}\r"
    )


# One real name per set, in characters outside ASCII that the set can carry.
SAMPLES = [
    ("ASCII", "ascii", "DOE^JOHN"),
    ("8859/1", "latin-1", "PEÑA^JOSÉ~SØNDERGÅRD^SØREN"),
    ("8859/2", "iso8859-2", "Wałęsa^Łukasz"),
    ("8859/3", "iso8859-3", "Borġ^Ġużeppi"),
    ("8859/4", "iso8859-4", "Bērziņš^Jānis"),
    ("8859/5", "iso8859-5", "Иванов^Иван"),
    ("8859/6", "iso8859-6", "حسن^علي"),
    ("8859/7", "iso8859-7", "Παπαδόπουλος^Νίκος"),
    ("8859/8", "iso8859-8", "כהן^דוד"),
    ("8859/9", "iso8859-9", "Y\u0131lmaz^Şükrü"),
    ("8859/15", "iso8859-15", "Œuvrard^Zoë €"),
    ("ISO IR6", "ascii", "DOE^JANE"),
    ("ISO IR100", "latin-1", "Müller^Jürgen"),
    ("ISO IR192", "utf-8", "山田^太郎"),
    ("ISO IR87", "iso2022_jp", "山田^太郎"),
    ("UNICODE", "utf-8", "Łukasz^Müller"),
    ("UNICODE UTF-8", "utf-8", "Müller^Łukasz~山田^太郎"),
    ("GB 18030-2000", "gb18030", "王^小明"),
    ("BIG-5", "big5", "陳^大文"),
    ("KS X 1001", "euc_kr", "김^민준"),
]


@pytest.mark.parametrize(("charset", "codec", "name"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_declared_set_decodes_a_real_message(charset: str, codec: str, name: str) -> None:
    """A message in each supported 8-bit or multi-byte set decodes to its own text."""
    text = message(charset, name)
    frame = text.encode(codec)
    assert declared_charset(frame) == charset
    decoded, used = decode_message(frame, "ASCII")
    assert (decoded, used) == (text, charset)
    assert parse_message(decoded).value("PID-5.1") == name.split("^", maxsplit=1)[0]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_are_recognised_by_bom_or_layout(codec: str) -> None:
    """UTF-16/32 bytes, with or without BOM, decode when MSH-18 agrees."""
    width = "UTF-32" if "32" in codec else "UTF-16"
    text = message(f"UNICODE {width}", "山田^太郎")
    decoded, used = decode_message(text.encode(codec), "UNICODE UTF-8")
    assert (decoded, used) == (text, f"UNICODE {width}")
    assert declared_charset(text.encode(codec)) == f"UNICODE {width}"


def test_utf16_bytes_with_another_declared_set_are_refused() -> None:
    """UTF-16 bytes that claim to be 8859/1 raise CharsetError at MSH-18."""
    with pytest.raises(CharsetError) as caught:
        decode_message(message("8859/1", "X").encode("utf-16"), "ASCII")
    assert caught.value.location == MSH_18


def test_utf16_declared_on_single_byte_text_is_refused() -> None:
    """A UTF-16 name on bytes that are not UTF-16 raises CharsetError at MSH-18."""
    with pytest.raises(CharsetError, match="UTF-16") as caught:
        decode_message(message("UNICODE UTF-16", "X").encode("ascii"), "ASCII")
    assert caught.value.location == MSH_18


@pytest.mark.parametrize(
    ("msh_18", "expected"),
    [
        ("", None),
        ("  ", None),
        (" unicode utf-8 ", "UNICODE UTF-8"),
        ("8859/1~ISO IR87", "8859/1"),
        ("~ISO IR87", None),
    ],
)
def test_declared_charset_reads_first_repetition(msh_18: str, expected: str | None) -> None:
    """MSH-18 is stripped and upper-cased; only its first repetition counts."""
    assert declared_charset(message(msh_18, "X").encode("ascii")) == expected


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"PID|1",
        b"MSH|^~\\&|RIS|H|GW|R|20240101||ADT^A01|1|P|2.5",
        b"MSH|^~\\&|A\rPID|1||||||||||||||||||UNICODE UTF-8",
        b"MSH|^~\\&|A\nPID|1||||||||||||||||||UNICODE UTF-8",
    ],
)
def test_declared_charset_absent(frame: bytes) -> None:
    """No MSH-18 in the MSH segment (fields of later segments don't count) reads as None."""
    assert declared_charset(frame) is None


def test_no_msh_18_uses_the_default() -> None:
    """Without MSH-18 the configured default set decodes the message."""
    text = message("", "PEÑA^JOSÉ")
    assert decode_message(text.encode("latin-1"), "8859/1") == (text, "8859/1")
    assert decode_message(text.encode("utf-8"), " unicode utf-8 ") == (text, "UNICODE UTF-8")


def test_utf8_bom_is_dropped() -> None:
    """A UTF-8 byte order mark is not text and does not hide MSH-18."""
    text = message("UNICODE UTF-8", "Müller^Łukasz")
    frame = codecs.BOM_UTF8 + text.encode("utf-8")
    assert declared_charset(frame) == "UNICODE UTF-8"
    assert decode_message(frame, "ASCII") == (text, "UNICODE UTF-8")


@pytest.mark.parametrize(
    ("charset", "frame"),
    [
        ("UNICODE UTF-8", message("UNICODE UTF-8", "PEÑA").encode("latin-1")),
        ("ASCII", message("ASCII", "PEÑA").encode("latin-1")),
        ("8859/7", message("8859/7", "X").encode("ascii") + b"\xff"),
    ],
)
def test_invalid_bytes_raise_charset_error_at_msh_18(charset: str, frame: bytes) -> None:
    """Bytes not valid in the declared set raise CharsetError at MSH-18, code 102."""
    with pytest.raises(CharsetError, match=f"not valid in {charset}") as caught:
        decode_message(frame, "ASCII")
    assert caught.value.location == MSH_18
    assert caught.value.code == ErrorCode.DATA_TYPE_ERROR


def test_invalid_bytes_in_the_default_set_raise_charset_error() -> None:
    """With no MSH-18, bytes invalid in the default set raise CharsetError too."""
    with pytest.raises(CharsetError) as caught:
        decode_message(message("", "PEÑA").encode("latin-1"), "UNICODE UTF-8")
    assert caught.value.location == MSH_18


@pytest.mark.parametrize("charset", ["KLINGON", "UTF-8", "ISO IR159", "CNS 11643-1992"])
def test_unknown_set_raises_charset_error_table_value_not_found(charset: str) -> None:
    """A set we do not know raises CharsetError at MSH-18 with code 103."""
    with pytest.raises(CharsetError, match="unknown") as caught:
        decode_message(message(charset, "X").encode("ascii"), "ASCII")
    assert caught.value.location == MSH_18
    assert caught.value.code == ErrorCode.TABLE_VALUE_NOT_FOUND


def test_unknown_default_raises_charset_error() -> None:
    """An unknown default set is refused the same way."""
    with pytest.raises(CharsetError):
        decode_message(message("", "X").encode("ascii"), "EBCDIC")


@pytest.mark.parametrize(
    ("text", "charset", "expected"),
    [
        ("MSA|AA|Søren", "8859/1", "MSA|AA|Søren".encode("latin-1")),
        ("MSA|AA|山田 Søren", "8859/1", b"MSA|AA|?? S\xf8ren"),
        ("MSA|AA|Łukasz", "ASCII", b"MSA|AA|?ukasz"),
        ("MSA|AA|Łukasz", None, "MSA|AA|Łukasz".encode()),
        ("MSA|AA|Иван €", "8859/5", "MSA|AA|Иван ?".encode("iso8859-5")),
        ("MSA|AA|Łukasz", "unicode utf-8", "MSA|AA|Łukasz".encode()),
    ],
)
def test_encode_message_replaces_what_does_not_fit(
    text: str, charset: str | None, expected: bytes
) -> None:
    """ACK text is encoded in the set of the message it answers, "?" for misfits."""
    assert encode_message(text, charset, "UNICODE UTF-8") == expected


def test_encode_message_round_trips_through_decode() -> None:
    """An ACK encoded in UTF-16 decodes again as UTF-16."""
    text = message("UNICODE UTF-16", "山田^太郎")
    frame = encode_message(text, "UNICODE UTF-16", "ASCII")
    assert decode_message(frame, "ASCII") == (text, "UNICODE UTF-16")


def test_encode_message_unknown_set_raises() -> None:
    """Encoding in an unknown set raises CharsetError."""
    with pytest.raises(CharsetError):
        encode_message("MSA|AA|1", "KLINGON", "ASCII")


@pytest.mark.parametrize(
    ("fixture", "charset", "name"),
    [
        ("orm_o01_nw_v251_utf8_mr.hl7", "UNICODE UTF-8", "Müller"),
        ("orm_o01_nw_v231_latin1_cr.hl7", "8859/1", "SØNDERGÅRD"),
        ("orm_o01_nw_v24_cerner_mr.hl7", "ASCII", "OKONKWO"),
    ],
)
def test_fixtures_decode_per_msh_18(fixture: str, charset: str, name: str) -> None:
    """The non-ASCII fixtures decode per their MSH-18; an ASCII one per the default."""
    text, used = decode_message((FIXTURES / fixture).read_bytes(), "ASCII")
    assert used == charset
    assert parse_message(text).value("PID-5.1") == name


def test_table_covers_the_documented_names() -> None:
    """Every table 0211 name we promise maps to a codec Python has."""
    for codec in HL7_CHARSETS.values():
        codecs.lookup(codec)
    assert {"ASCII", "8859/1", "UNICODE UTF-8", "ISO IR192", "BIG-5"} <= set(HL7_CHARSETS)


def test_a_segment_break_right_after_msh_declares_nothing() -> None:
    """`MSH` cut short by a line break (found by fuzzing) has no MSH-18: None, no IndexError."""
    assert declared_charset(b"MSH\r|^~\\&|A|B\r") is None
    assert declared_charset(b"MSH|^\nPID|1") is None


def test_a_one_character_msh_2_does_not_break_sniffing() -> None:
    """`MSH|^|` (MSH-2 too short, found by fuzzing) still yields MSH-18 or None, never raises."""
    fields = "|".join(["MSH", "^"] + [""] * 15 + ["8859/1"])
    assert declared_charset(fields.encode()) == "8859/1"
