"""Hypothesis over real MLLP: mutated messages never crash the listener, always get an ACK or
a clean close, and nothing is ever half-applied."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fixtures.messages import orm_new_order
from store.engine import create_engine
from store.schema import messages, order_timeline, reports
from tests.conftest import PostgresServer, reach_postgres
from tests.support.threaded_gateway import END, START, ThreadedGateway, exchange, read_until

SAMPLES = [
    p.read_bytes() for p in sorted((Path(__file__).parents[2] / "fixtures" / "hl7").rglob("*.hl7"))
]
_probes = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedGateway]:
    """One gateway per database kind for the whole module."""
    server: PostgresServer | None = None
    name = ""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'gateway.db'}"
    else:
        server = asyncio.run(reach_postgres())
        name = asyncio.run(server.create_database())
        url = server.url_for(name)
    gateway = ThreadedGateway(url)
    yield gateway
    gateway.stop()
    if server is not None:
        asyncio.run(server.drop_database(name))


def exchange_with_probe(port: int, payload: bytes, probe_id: str) -> list[bytes] | None:
    """Send the payload, then a valid probe order on the same connection; the answers up to
    the probe's ACK, or None when the gateway closed the connection (a clean close).

    A fuzzed MSH-15 of NE rightly gets no answer at all; the probe shows the connection is
    still served either way.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(START + payload + END)
        try:
            sock.sendall(START + orm_new_order(probe_id, control_id=probe_id) + END)
        except OSError:
            return None  # closed after an oversize or unreadable frame
        answers, received = [], b""
        while f"MSA|AA|{probe_id}".encode() not in received:
            received = read_until(sock, END)
            if not received:
                return None
            answers.append(received)
        return answers


def _mutate(sample: bytes, how: str, where: int, data: bytes) -> bytes:
    segments = sample.split(b"\r")
    index = where % len(segments)
    segment = segments[index]
    if how == "drop-field" and b"|" in segment:
        fields = segment.split(b"|")
        del fields[where % len(fields)]
        segments[index] = b"|".join(fields)
    elif how == "truncate-segment":
        segments[index] = segment[: where % (len(segment) + 1)]
    elif how == "wrong-version":
        segments[0] = segments[0].replace(b"|2.", b"|" + data[:4] + b".", 1)
    elif how == "huge-field":
        segments[index] = segment + b"|" + (data or b"X") * (200_000 // max(len(data), 1))
    elif how == "insert-bytes":
        return sample[: where % len(sample)] + data + sample[where % len(sample) :]
    return b"\r".join(segments)


mutated = st.one_of(
    st.binary(max_size=300),
    st.builds(
        _mutate,
        st.sampled_from(SAMPLES),
        st.sampled_from(
            ["drop-field", "truncate-segment", "wrong-version", "huge-field", "insert-bytes"]
        ),
        st.integers(0, 10_000),
        st.binary(max_size=20),
    ),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=mutated)
def test_mutated_messages_get_an_ack_or_a_clean_close(
    fuzz_gateway: ThreadedGateway, payload: bytes
) -> None:
    """Any mutation of a real message is answered with ACKs (then the probe's), or closed."""
    answers = exchange_with_probe(fuzz_gateway.port, payload, f"PROBE{next(_probes)}")
    for answer in answers or []:
        text = answer.decode("latin-1")
        assert answer.startswith(START) and answer.endswith(END)
        assert text[1:4] == "MSH" and "\rMSA|" in text


def test_after_the_fuzz_the_listener_serves_and_nothing_is_half_applied(
    fuzz_gateway: ThreadedGateway,
) -> None:
    """A valid order still gets AA; no refused message left a timeline row or a report."""
    answer = exchange(fuzz_gateway.port, orm_new_order("FUZZ-OK", control_id="FUZZ-OK"))
    assert b"MSA|AA|FUZZ-OK" in answer

    async def half_applied() -> tuple[int, int]:
        engine = create_engine(fuzz_gateway.database_url)
        try:
            async with engine.connect() as conn:
                refused = select(messages.c.id).where(messages.c.outcome != "applied")
                timeline = await conn.execute(
                    select(func.count()).where(order_timeline.c.message_id.in_(refused))
                )
                report = await conn.execute(
                    select(func.count()).where(reports.c.message_id.in_(refused))
                )
                logged = await conn.execute(select(func.count()).select_from(messages))
                return timeline.scalar_one() + report.scalar_one(), logged.scalar_one()
        finally:
            await engine.dispose()

    leaked, logged = asyncio.run(half_applied())
    assert leaked == 0
    assert logged > 1, "the fuzzed messages were kept in the message log"
