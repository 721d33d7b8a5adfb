"""Reading the sample messages in fixtures/hl7 and comparing mapped events, for mapper tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mappers.events import Event
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.er7 import Message, parse_message
from mappers.hl7v2.header import Header, read_header
from mappers.hl7v2.rules import MappingRules

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"
RULES = MappingRules()

Mapper = Callable[[Message, Header, MappingRules], list[Event] | None]


def map_text(mapper: Mapper, text: str, rules: MappingRules = RULES) -> list | None:
    """Run one family's mapper on a message's text."""
    return mapper(parse_message(text), read_header(text), rules)


def read_sample(name: str, charset: str = "UNICODE UTF-8") -> str:
    """A sample's text, decoded per its MSH-18 (else `charset`)."""
    text, _ = decode_message((FIXTURES / name).read_bytes(), charset)
    return text


def at(text: str) -> datetime:
    """A UTC moment written as HL7 writes it, YYYYMMDDHHMM[SS]."""
    layout = "%Y%m%d%H%M%S" if len(text) == 14 else "%Y%m%d%H%M"
    return datetime.strptime(text, layout).replace(tzinfo=UTC)


def assert_same_events(actual: list | None, expected: list) -> None:
    """The same events in the same order, compared field by field (the failure names it)."""
    assert actual is not None
    assert [type(e).__name__ for e in actual] == [type(e).__name__ for e in expected]
    for n, (got, want) in enumerate(zip(actual, expected, strict=True)):
        for f in dataclasses.fields(want):
            assert getattr(got, f.name) == getattr(want, f.name), f"event {n}: {f.name}"
