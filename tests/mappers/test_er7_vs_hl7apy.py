"""Our ER7 reader splits every fixture exactly as hl7apy does, down to each subcomponent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hl7apy.base_datatypes import TextualDataType
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Component, Field, Segment, SubComponent
from hl7apy.parser import parse_message as hl7apy_parse

from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.er7 import Delimiters, parse_message
from mappers.hl7v2.er7 import Segment as OurSegment

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "hl7").glob("*.hl7"))
# hl7apy names a child after its position ("PID_3", "CX_4", "VARIES_2"); where it knows no
# position (a base type "ST", a child past its data type's end) it keeps the order of the text.
_POSITION = re.compile(r"_(\d+)$")


def read_fixture(path: Path) -> str:
    """The fixture's text, decoded per its MSH-18."""
    text, _ = decode_message(path.read_bytes(), "ASCII")
    return text


def parse_with_hl7apy(text: str) -> list[Segment]:
    """hl7apy's reading, as tolerant as it goes: no groups, no validation."""
    message = hl7apy_parse(
        text,
        find_groups=False,
        validation_level=VALIDATION_LEVEL.TOLERANT,
        force_validation=False,
    )
    return list(message.children)


def leaf_text(sub: SubComponent) -> str:
    """A subcomponent's text as received.

    hl7apy keeps textual values raw but re-escapes them in to_er7() (\\.br\\ becomes
    \\E\\.br\\E\\), so the stored value is the faithful one; other types (dates, numbers) only
    have to_er7().
    """
    value = sub.value
    if isinstance(value, str):
        return value
    if isinstance(value, TextualDataType):
        return value.value
    return sub.to_er7()


def positioned(children: list, what: str) -> dict[int, Any]:
    """hl7apy's children by 1-based position (from their names, else their order)."""
    found: dict[int, Any] = {}
    position = 0
    for child in children:
        match = _POSITION.search(child.name or "")
        position = int(match.group(1)) if match else position + 1
        assert position not in found, f"{what}: two children at position {position}"
        found[position] = child
    return found


def joined(parts: dict[int, str], separator: str) -> str:
    """Texts put back at their positions, empty ones between, as ER7 writes them."""
    return separator.join(parts.get(n, "") for n in range(1, max(parts, default=0) + 1))


def trimmed(raw: str, d: Delimiters) -> str:
    """A repetition's raw text without trailing empty components or subcomponents.

    hl7apy keeps no empty children for a typed field, so "HOSP&1.2.3&^MR^" is "HOSP&1.2.3^MR".
    """
    comps = [comp.rstrip(d.subcomponent) for comp in raw.split(d.component)]
    return d.component.join(comps).rstrip(d.component)


def assert_component_matches(ours: str, theirs: Component, d: Delimiters, where: str) -> None:
    """The component's raw text, and each subcomponent's, at the same positions."""
    their_subs = {n: leaf_text(sub) for n, sub in positioned(theirs.children, where).items()}
    assert trimmed(ours, d) == joined(their_subs, d.subcomponent).rstrip(d.subcomponent), where
    for n, text in enumerate(ours.split(d.subcomponent), start=1):
        assert text == their_subs.get(n, ""), f"{where}.{n}"


def assert_field_matches(ours: str, theirs: Field, d: Delimiters, where: str) -> None:
    """The repetition's raw text, and each component's, at the same positions."""
    their_comps = positioned(theirs.children, where)
    their_raw = {
        n: joined(
            {m: leaf_text(sub) for m, sub in positioned(comp.children, where).items()},
            d.subcomponent,
        )
        for n, comp in their_comps.items()
    }
    assert trimmed(ours, d) == trimmed(joined(their_raw, d.component), d), where
    for n, text in enumerate(ours.split(d.component), start=1):
        if n in their_comps:
            assert_component_matches(text, their_comps[n], d, f"{where}.{n}")
        else:
            assert text == "", f"{where}.{n}"


def their_fields(segment: Segment) -> dict[int, list[Field]]:
    """hl7apy's field repetitions by field number."""
    fields: dict[int, list[Field]] = {}
    for field in segment.children:
        assert field.name, f"{segment.name}: a field hl7apy could not place"
        fields.setdefault(int(_POSITION.search(field.name).group(1)), []).append(field)
    return fields


def assert_segment_matches(ours: OurSegment, theirs: Segment, d: Delimiters) -> None:
    """Same name, same non-empty fields, and each repetition splits the same way."""
    assert ours.name == theirs.name
    theirs_by_number = their_fields(theirs)
    ours_non_empty = {n for n in range(1, len(ours) + 1) if ours.raw(n).strip()}
    assert ours_non_empty == set(theirs_by_number), ours.name
    for n, their_reps in theirs_by_number.items():
        where = f"{ours.name}-{n}"
        our_reps = ours.repetitions(n)
        if ours.name == "MSH" and n <= 2:
            assert our_reps[0].raw == leaf_text(their_reps[0].children[0].children[0]), where
            continue
        # hl7apy drops empty repetitions; ours keeps them in place.
        non_empty = [rep for rep in our_reps if rep.raw.strip()]
        assert len(non_empty) == len(their_reps), where
        for r, (our_rep, their_rep) in enumerate(zip(non_empty, their_reps, strict=True), 1):
            assert_field_matches(our_rep.raw, their_rep, d, f"{where}[{r}]")


def test_fixtures_exist() -> None:
    """The fixture set is there to compare (at least a dozen messages)."""
    assert len(FIXTURES) >= 12


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_reader_matches_hl7apy(path: Path) -> None:
    """Every segment, field repetition, component and subcomponent matches hl7apy's split."""
    text = read_fixture(path)
    ours = parse_message(text)
    theirs = parse_with_hl7apy(text)
    assert [s.name for s in ours.segments] == [s.name for s in theirs]
    for our_segment, their_segment in zip(ours.segments, theirs, strict=True):
        assert_segment_matches(our_segment, their_segment, ours.delimiters)
