"""Any bytes at all get a well-formed acknowledgement, and nothing but an answer comes out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listeners.hl7 import Hl7Receiver, ReceiverOptions
from mappers.hl7v2.ack import Responder
from mappers.hl7v2.rules import MappingRules
from store.ingest import Inbound, Outcome, Stored

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "hl7").glob("*.hl7"))
SAMPLES = [path.read_bytes() for path in FIXTURES]


class RecordingStore:
    """Stands in for the ingest writer: records what would be stored, stores it at once."""

    def __init__(self) -> None:
        self.submitted: list[Inbound] = []

    async def submit(self, inbound: Inbound) -> Stored:
        self.submitted.append(inbound)
        return Stored(len(self.submitted), inbound.outcome, False, False)


def _receiver(store: RecordingStore) -> Hl7Receiver:
    options = ReceiverOptions(
        default_charset="UNICODE UTF-8",
        accepted_processing_ids=("P", "D", "T"),
        rules=MappingRules(),
        responder=Responder("IMAGING_GW", "RADIOLOGY"),
    )
    return Hl7Receiver(store, options, clock=lambda: datetime(2026, 11, 22, tzinfo=UTC))  # type: ignore[arg-type]


def _check_answer(payload: bytes) -> None:
    store = RecordingStore()
    answer = asyncio.run(_receiver(store).handle(payload, "127.0.0.1:1"))
    assert len(store.submitted) == 1, "every message is kept, whatever it holds"
    inbound = store.submitted[0]
    assert inbound.raw == payload
    if inbound.outcome is Outcome.REJECTED:
        assert inbound.error, "a rejection records why"
    if answer is None:  # enhanced mode may ask for no answer
        return
    lines = answer.decode("latin-1").split("\r")
    assert lines[0].startswith("MSH") and lines[1].startswith("MSA")
    assert lines[-1] == "", "the ACK ends with a segment terminator"
    msa_code = lines[1][4:6]
    assert msa_code in ("AA", "AR", "CA", "CR")
    assert (msa_code in ("AA", "CA")) == inbound.outcome.accepted


mutations = st.sampled_from(SAMPLES).flatmap(
    lambda sample: st.tuples(
        st.just(sample),
        st.integers(0, len(sample)),
        st.integers(0, 40),
        st.binary(max_size=40),
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_get_an_answer(payload: bytes) -> None:
    """Arbitrary bytes are kept and answered with a parseable ACK; nothing raises."""
    _check_answer(payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_real_messages_get_an_answer(case: tuple[bytes, int, int, bytes]) -> None:
    """Real samples with a slice cut out and random bytes put in are answered, never crash."""
    sample, at, cut, insert = case
    _check_answer(sample[:at] + insert + sample[at + cut :])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(1, 12), st.sampled_from(["", "X" * 70_000, "|^~&\\"]))
def test_replaced_fields_get_an_answer(sample: bytes, field: int, value: str) -> None:
    """A field emptied, made huge, or filled with delimiters in any segment is answered."""
    segments = sample.split(b"\r")
    for index, segment in enumerate(segments):
        parts = segment.split(b"|")
        if len(parts) > field and not segment.startswith(b"MSH"):
            parts[field] = value.encode()
            segments[index] = b"|".join(parts)
    _check_answer(b"\r".join(segments))
