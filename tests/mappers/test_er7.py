"""Unit tests of the ER7 reader: delimiters, structure, numbering, escapes and errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.errors import Location, ParseError
from mappers.hl7v2.er7 import Delimiters, Field, Message, escape, parse_message, unescape

DEFAULT = Delimiters()
CUSTOM = Delimiters(field="#", component="$", repetition="*", escape="!", subcomponent="@")

ORM = "\r".join(
    [
        "MSH|^~\\&|RIS|GENERAL_HOSP|IMAGING_GW|RADIOLOGY|20240312091233||ORM^O01|C1|P|2.3.1",
        "PID|1||E1^^^HOSP^MR~123-45-6789^^^SSA^SS||GARCIA^MARIA^E~LOPEZ^MARIA||19710823|F",
        "ORC|NW|P1|ACC1||||1^^^20240312091200^^S|||||102938^NAKAMURA^KENJI^T^^DR",
        "OBR|1|P1|ACC1|71250^CT CHEST W/O CONTRAST^CPT4|||||||||Pain L\\F\\R\\.br\\x",
        "OBR|2|P2|ACC2|70450^CT HEAD^CPT4",
        "ZDS|1.2.3^AGFA&X&Y^Application^DICOM",
        "",
    ]
)


def parse(text: str = ORM) -> Message:
    """Parse, asserting the reader accepted the text."""
    return parse_message(text)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("MSH|^~\\&|A", DEFAULT),
        ("MSH#$*!@#A", CUSTOM),
        ("MSH|^~\\&#|A", Delimiters(truncation="#")),
        ("MSH!@#$%!A", Delimiters("!", "@", "#", "$", "%")),
    ],
)
def test_delimiters_come_from_msh_1_and_msh_2(header: str, expected: Delimiters) -> None:
    """The delimiters are whatever MSH-1 and MSH-2 say, with a 5th (truncation) kept."""
    message = parse(header + "|9\rPID")
    assert message.delimiters == expected
    assert message.segment("MSH").raw(2) == expected.encoding_characters


def test_custom_delimiters_split_and_unescape() -> None:
    """Custom delimiters split fields, repetitions, components and subcomponents, and escape."""
    message = parse("MSH#$*!@#RIS#H\rPID#1##A$B@C*D##x!F!y!S!z")
    pid = message.segment("PID")
    assert pid.value(3, 2, 2) == "C"
    assert pid.value(3, repetition=2) == "D"
    assert pid.value(5) == "x#y$z"
    assert message.segment("MSH").value(1) == "#"
    assert message.segment("MSH").value(3) == "RIS"


@pytest.mark.parametrize(
    "separator", ["\r", "\n", "\r\n", "\r\r", "\n\n", "\r\n\r\n", "\r \r", "\r\t\x00\r"]
)
def test_segment_separators_and_blank_lines(separator: str) -> None:
    """CR, LF and CRLF all end segments; blank or whitespace-only lines are skipped."""
    text = separator.join(["MSH|^~\\&|RIS", "PID|1||X", "PV1|1|E"]) + separator + "\x00\x00"
    message = parse(text)
    assert [s.name for s in message.segments] == ["MSH", "PID", "PV1"]
    assert message.segment("PV1").raw(2) == "E"


def test_leading_blank_lines_are_skipped() -> None:
    """Line breaks before MSH are engine noise, not a missing MSH."""
    assert parse("\r\n\rMSH|^~\\&|RIS\rPID|1").segment("PID").raw(1) == "1"


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        (1, "|"),
        (2, "^~\\&"),
        (3, "RIS"),
        (7, "20240312091233"),
        (8, ""),
        (9, "ORM^O01"),
        (12, "2.3.1"),
        (13, ""),
        (0, ""),
        (-1, ""),
    ],
)
def test_msh_numbering(field: int, raw: str) -> None:
    """MSH-1 is the field separator and MSH-2 the encoding characters, as the standard counts."""
    assert parse().segment("MSH").raw(field) == raw


def test_msh_1_and_2_are_never_split_or_unescaped() -> None:
    """MSH-2 holds the repetition and escape characters but reads verbatim."""
    msh = parse().segment("MSH")
    assert msh.value(1) == "|"
    assert msh.value(2) == "^~\\&"
    assert msh.value(2, 2) == ""
    assert msh.repetitions(2) == [Field("^~\\&", DEFAULT)]
    assert msh.field(2).components() == ["^~\\&"]
    assert msh.field(2).value() == "^~\\&"
    assert msh.field(2).text() == "^~\\&"
    assert msh.value(9, 1) == "ORM"
    assert msh.value(9, 2) == "O01"
    assert len(msh) == 12


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (("PID", 3, 1, 1, 1), "E1"),
        (("PID", 3, 4, 1, 1), "HOSP"),
        (("PID", 3, 5, 1, 2), "SS"),
        (("PID", 3, 1, 1, 2), "123-45-6789"),
        (("PID", 3, 1, 1, 3), ""),
        (("PID", 3, 6, 1, 1), ""),
        (("PID", 3, 1, 2, 1), ""),
        (("PID", 5, 2, 1, 2), "MARIA"),
        (("PID", 2, 1, 1, 1), ""),
        (("PID", 99, 1, 1, 1), ""),
        (("PID", 8, 1, 1, 1), "F"),
        (("PID", 8, 2, 1, 1), ""),
        (("PID", 8, 1, 1, 2), ""),
        (("ORC", 7, 6, 1, 1), "S"),
        (("ORC", 12, 6, 1, 1), "DR"),
        (("ORC", 12, 5, 1, 1), ""),
        (("OBR", 4, 3, 1, 1), "CPT4"),
        (("OBR", 13, 1, 1, 1), "Pain L|R\nx"),
        (("ZDS", 1, 2, 1, 1), "AGFA"),
        (("ZDS", 1, 2, 3, 1), "Y"),
        (("ZDS", 1, 2, 4, 1), ""),
        (("ZDS", 1, 0, 1, 1), ""),
    ],
)
def test_segment_value(where: tuple[str, int, int, int, int], expected: str) -> None:
    """Segment.value reads one unescaped subcomponent, "" wherever nothing is there."""
    name, field, component, subcomponent, repetition = where
    seg = parse().segment(name)
    assert seg is not None
    assert seg.value(field, component, subcomponent, repetition) == expected


def test_repetitions_fields_and_components() -> None:
    """Repetitions split on demand; an absent field is an empty, falsy Field."""
    pid = parse().segment("PID")
    reps = pid.repetitions(3)
    assert [r.raw for r in reps] == ["E1^^^HOSP^MR", "123-45-6789^^^SSA^SS"]
    assert reps[1].components() == ["123-45-6789", "", "", "SSA", "SS"]
    assert pid.field(3, 2).value(4) == "SSA"
    assert pid.repetitions(2) == []
    assert pid.repetitions(40) == []
    assert not pid.field(2)
    assert not pid.field(3, 3)
    assert pid.field(2).value() == ""
    assert pid.field(2).components() == [""]
    assert pid.field(8)
    assert len(pid) == 8


def test_empty_repetitions_are_kept_in_place() -> None:
    """An empty repetition between two others keeps the numbering of the ones after it."""
    pid = parse("MSH|^~\\&|A\rPID|1||A~~C|").segment("PID")
    assert [r.raw for r in pid.repetitions(3)] == ["A", "", "C"]
    assert pid.value(3, repetition=3) == "C"
    assert len(pid) == 4
    assert pid.raw(4) == ""


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("plain", "plain"),
        ("L\\F\\R", "L|R"),
        ("A^B", "A^B"),
        ("A\\S\\B^C", "A\\S\\B^C"),
        ("A&B", "A&B"),
        ("", ""),
    ],
)
def test_field_text(raw: str, text: str) -> None:
    """Field.text unescapes a repetition without structure and returns structured ones raw."""
    assert Field(raw, DEFAULT).text() == text


def test_field_value_unescapes_only_the_leaf() -> None:
    """Components are returned raw; value() unescapes the chosen one."""
    field = Field("a\\T\\b^c&d\\E\\", DEFAULT)
    assert field.components() == ["a\\T\\b", "c&d\\E\\"]
    assert field.value(1) == "a&b"
    assert field.value(2, 2) == "d\\"
    assert field.value(3) == ""


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("\\F\\", "|"),
        ("\\S\\", "^"),
        ("\\T\\", "&"),
        ("\\R\\", "~"),
        ("\\E\\", "\\"),
        ("a\\.br\\b", "a\nb"),
        ("\\H\\bold\\N\\", "bold"),
        ("a\\.sp\\b", "a\nb"),
        ("a\\.sp3\\b", "a\nb"),
        ("a\\.in+4\\b", "ab"),
        ("a\\.ti-2\\b", "ab"),
        ("a\\.sk 3\\b", "ab"),
        ("a\\.ce\\b", "ab"),
        ("a\\.fi\\b\\.nf\\c", "abc"),
        ("\\X41\\", "A"),
        ("\\X4142c9\\", "ABÉ"),
        ("\\X0D0A\\", "\r\n"),
        ("\\X09\\", "\t"),
        ("\\X01\\", "\\X01\\"),
        ("\\X4\\", "\\X4\\"),
        ("\\XZZ\\", "\\XZZ\\"),
        ("\\X\\", "\\X\\"),
        ("\\C2842\\", "\\C2842\\"),
        ("\\M2442\\", "\\M2442\\"),
        ("\\Q\\", "\\Q\\"),
        ("\\P\\", "\\P\\"),
        ("C:\\temp\\x", "C:\\temp\\x"),
        ("\\\\", "\\\\"),
        ("tail\\", "tail\\"),
        ("a\\F", "a\\F"),
        ("\\F\\\\S\\\\unterminated", "|^\\unterminated"),
        ("no escapes", "no escapes"),
    ],
)
def test_unescape(escaped: str, plain: str) -> None:
    """Each v2.5 escape sequence maps as documented; odd or unterminated ones stay verbatim."""
    assert unescape(escaped, DEFAULT) == plain


def test_unescape_with_custom_and_truncation_delimiters() -> None:
    """Escapes use the message's own escape character; \\P\\ needs a truncation character."""
    assert unescape("a!F!b!E!c!.br!d", CUSTOM) == "a#b!c\nd"
    assert unescape("x\\P\\y", Delimiters(truncation="#")) == "x#y"


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [
        ("a|b", "a\\F\\b"),
        ("a^b", "a\\S\\b"),
        ("a&b", "a\\T\\b"),
        ("a~b", "a\\R\\b"),
        ("a\\b", "a\\E\\b"),
        ("l1\nl2", "l1\\.br\\l2"),
        ("l1\r\nl2", "l1\\.br\\l2"),
        ("l1\rl2", "l1\\.br\\l2"),
        ("\\F\\", "\\E\\F\\E\\"),
        ("plain", "plain"),
    ],
)
def test_escape(plain: str, escaped: str) -> None:
    """escape() writes the five delimiter escapes and turns every line break into \\.br\\."""
    assert escape(plain, DEFAULT) == escaped
    assert unescape(escaped, DEFAULT) == plain.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("PID-5", "GARCIA"),
        ("PID-5.1", "GARCIA"),
        ("PID-5[2].1", "LOPEZ"),
        ("PID-3[2].4.1", "SSA"),
        ("PID-3[3].1", ""),
        ("MSH-9.2", "O01"),
        ("MSH-1", "|"),
        ("MSH-2", "^~\\&"),
        ("OBR-4.2", "CT CHEST W/O CONTRAST"),
        ("OBR(2)-4.2", "CT HEAD"),
        ("OBR(3)-4.2", ""),
        ("ZDS-1.2.2", "X"),
        ("NTE-3", ""),
        ("PID(1)-8", "F"),
    ],
)
def test_message_value(location: str, expected: str) -> None:
    """Message.value reads the short location form, with segment and field repetitions."""
    assert parse().value(location) == expected


@pytest.mark.parametrize("location", ["PID", "pid-3", "PID-x", ""])
def test_message_value_rejects_non_locations(location: str) -> None:
    """A text that is not a location of a field is a programming error, not a missing value."""
    with pytest.raises(ValueError):
        parse().value(location)


def test_segment_lookup() -> None:
    """Segments are found by name and occurrence; Z-segments are ordinary segments."""
    message = parse()
    assert [s.raw(1) for s in message.segments_named("OBR")] == ["1", "2"]
    assert message.segment("OBR", 2).raw(2) == "P2"
    assert message.segment("OBR", 3) is None
    assert message.segment("OBR", 0) is None
    assert message.segment("NTE") is None
    assert message.segments_named("NTE") == []
    assert message.segment("ZDS").value(1, 4) == "DICOM"


def test_repeated_msh_keeps_msh_numbering() -> None:
    """A later MSH segment is numbered like the first (MSH-1 is the separator)."""
    message = parse("MSH|^~\\&|A\rMSH|^~\\&|B")
    assert message.segment("MSH", 2).value(3) == "B"
    assert message.segment("MSH", 2).value(1) == "|"


@pytest.mark.parametrize(
    ("text", "location", "reason"),
    [
        ("", "MSH", "MSH"),
        ("PID|1\rMSH|^~\\&", "MSH", "MSH"),
        (" MSH|^~\\&|A", "MSH", "MSH"),
        ("MSA|AA|1", "MSH", "MSH"),
        ("MSH", "MSH-1", "separator"),
        ("MSH|", "MSH-2", "not 0"),
        ("MSH|^~\\", "MSH-2", "not 3"),
        ("MSH|^~\\|A", "MSH-2", "not 3"),
        ("MSH|^~\\&#!|A", "MSH-2", "not 6"),
        ("MSH|^~\\^|A", "MSH-2", "distinct"),
        ("MSH|^~|&|A", "MSH-2", "not 2"),
        ("MSH|^|\\&|A", "MSH-2", "not 1"),
        ("MSH|^ \\&|A", "MSH-2", "blank"),
        ("MSH ^~\\& A", "MSH-2", "blank"),
    ],
)
def test_bad_msh_raises_parse_error_at_msh(text: str, location: str, reason: str) -> None:
    """A missing MSH or bad MSH-1/MSH-2 delimiters raise ParseError naming MSH, -1 or -2."""
    with pytest.raises(ParseError, match=reason) as caught:
        parse_message(text)
    assert caught.value.location == Location.parse(location)


@pytest.mark.parametrize(
    "line", ["pid|1", "PI|1", "PIDX|1", "1ID|1", "P-D|1", "PÏD|1", " PID|1", "free text line"]
)
def test_bad_segment_name_raises_parse_error_naming_its_position(line: str) -> None:
    """A segment name that is not [A-Z][A-Z0-9]{2} raises ParseError giving its position."""
    with pytest.raises(ParseError, match="segment 3 has name") as caught:
        parse_message(f"MSH|^~\\&|A\rEVN|A01\r{line}\rPV1|1")
    assert caught.value.location is None


def test_segment_names_with_digits_are_valid() -> None:
    """Names such as ZB1 or OM1 are well formed."""
    assert [s.name for s in parse("MSH|^~\\&|A\rZB1|x\rOM1|y\rPID").segments] == [
        "MSH",
        "ZB1",
        "OM1",
        "PID",
    ]


# Property-based tests --------------------------------------------------------------------

_TEXT = st.text(max_size=40)
_DELIMITER_SETS = st.sampled_from([DEFAULT, CUSTOM, Delimiters(truncation="#")])


@given(st.text(max_size=200))
def test_parse_arbitrary_text_returns_or_raises_parse_error(text: str) -> None:
    """Any text either parses or raises ParseError: never another exception."""
    with contextlib.suppress(ParseError):
        parse_message(text)


@given(st.text(alphabet="MSH|^~\\&#$*!@PIDX\r\n 1a", max_size=80))
def test_parse_delimiter_soup_returns_or_raises_parse_error(text: str) -> None:
    """Text made of delimiters and segment names either parses or raises ParseError."""
    try:
        message = parse_message("MSH" + text)
    except ParseError:
        return
    for segment in message.segments:
        for n in range(len(segment) + 2):
            segment.value(n, 2, 2, 2)
            for field in segment.repetitions(n):
                field.text()


@given(_TEXT, _DELIMITER_SETS)
def test_escape_round_trip(text: str, delimiters: Delimiters) -> None:
    """unescape(escape(s)) == s, with line breaks normalised to LF."""
    escaped = escape(text, delimiters)
    assert "\r" not in escaped
    assert "\n" not in escaped
    assert unescape(escaped, delimiters) == text.replace("\r\n", "\n").replace("\r", "\n")


@given(
    st.lists(st.lists(st.lists(_TEXT, min_size=1, max_size=3), min_size=1, max_size=3), max_size=6),
    _DELIMITER_SETS,
)
def test_message_built_from_escaped_values_reads_back(
    fields: list[list[list[str]]], d: Delimiters
) -> None:
    """A segment built from escaped values parses back to the same values at every position."""
    encoded = [
        d.component.join(d.subcomponent.join(escape(s, d) for s in comp) for comp in field)
        for field in fields
    ]
    header = f"MSH{d.field}{d.encoding_characters}{d.field}RIS"
    message = parse_message(header + "\r" + d.field.join(["ZZZ", *encoded]) + "\r")
    segment = message.segment("ZZZ")
    assert segment is not None
    for f, field in enumerate(fields, start=1):
        for c, comp in enumerate(field, start=1):
            for s, sub in enumerate(comp, start=1):
                expected = sub.replace("\r\n", "\n").replace("\r", "\n")
                assert segment.value(f, c, s) == expected


_LINE = st.one_of(
    st.just(""),
    st.just(" "),
    st.tuples(
        st.sampled_from(["PID", "OBR", "ZDS", "MSH", "pid", "P1", "OBX1"]),
        st.lists(st.text(alphabet="ab^~&\\ 1", max_size=6), max_size=4),
    ).map(lambda t: "|".join([t[0], *t[1]])),
)


@given(st.lists(_LINE, max_size=6), st.sampled_from(["\r", "\n", "\r\n"]))
def test_default_and_custom_delimiters_read_the_same_structure(
    lines: list[str], separator: str
) -> None:
    """The same message written with other delimiters reads the same (or fails the same way)."""
    text = separator.join(["MSH|^~\\&|RIS", *lines])
    custom = text.translate(str.maketrans("|^~\\&", "#$*!@"))

    def read(source: str) -> list[tuple[str, list[str]]] | str:
        try:
            message = parse_message(source)
        except ParseError as error:
            return str(error)
        return [(s.name, [s.raw(n) for n in range(3, len(s) + 1)]) for s in message.segments]

    expected = read(text)
    got = read(custom)
    if isinstance(expected, str):
        assert isinstance(got, str)
    else:
        table = str.maketrans("|^~\\&", "#$*!@")
        assert got == [(name, [f.translate(table) for f in raw]) for name, raw in expected]
