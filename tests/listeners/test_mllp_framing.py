"""MLLP framing and connection handling, over real sockets to a running MllpServer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from listeners.mllp import END_BLOCK, START_BLOCK, MllpServer, frame

LOGGER = "test.mllp"
TIMEOUT = 3.0


class Recorder:
    """A handler that records payloads and answers b"ACK:" + the first 10 bytes."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.oversize_heads: list[bytes] = []

    async def handle(self, payload: bytes, peer: str) -> bytes | None:
        """Answer every payload except the special ones below."""
        self.payloads.append(payload)
        if payload == b"boom":
            raise RuntimeError("handler bug")
        if payload == b"quiet":
            return None
        return b"ACK:" + payload[:10]

    async def oversize(self, head: bytes, peer: str) -> bytes | None:
        """Answer an over-limit message the way the caller would (an AR)."""
        self.oversize_heads.append(head)
        return b"AR:too big"


ServerFactory = Callable[..., Awaitable[MllpServer]]


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recording handler."""
    return Recorder()


@pytest.fixture
async def make_server(recorder: Recorder) -> AsyncIterator[ServerFactory]:
    """Start MllpServers on free ports; close them all after the test."""
    servers: list[MllpServer] = []

    async def make(**overrides: object) -> MllpServer:
        options: dict[str, object] = {
            "handler": recorder.handle,
            "on_oversize": recorder.oversize,
            "host": "127.0.0.1",
            "port": 0,
            "max_message_bytes": 1024,
            "idle_timeout": None,
            "read_timeout": 2.0,
            "logger": logging.getLogger(LOGGER),
        }
        options.update(overrides)
        server = MllpServer(**options)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close(grace=0.5)


@pytest.fixture
async def server(make_server: ServerFactory) -> MllpServer:
    """A server with default test options."""
    return await make_server()


async def connect(server: MllpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a client connection to the server."""
    return await asyncio.open_connection("127.0.0.1", server.port)


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """Read one framed response and return its payload."""
    data = await asyncio.wait_for(reader.readuntil(END_BLOCK), TIMEOUT)
    assert data.startswith(START_BLOCK)
    return data[1 : -len(END_BLOCK)]


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes; return whatever came before."""
    return await asyncio.wait_for(reader.read(), TIMEOUT)


async def exchange(server: MllpServer, payload: bytes) -> bytes:
    """Send one message on a new connection and return the response payload."""
    reader, writer = await connect(server)
    writer.write(frame(payload))
    await writer.drain()
    response = await read_response(reader)
    writer.close()
    await writer.wait_closed()
    return response


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll until `condition` holds, failing after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_frame_wraps_payload() -> None:
    """frame() puts the start block before and the end block after the payload."""
    assert frame(b"MSH|x") == b"\x0bMSH|x\x1c\x0d"


async def test_message_split_byte_by_byte_arrives_whole(
    server: MllpServer, recorder: Recorder
) -> None:
    """A frame written one byte at a time is reassembled into one payload."""
    reader, writer = await connect(server)
    payload = b"MSH|^~\\&|RIS|HOSP\rPID|1"
    for byte in frame(payload):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.001)
    assert await read_response(reader) == b"ACK:" + payload[:10]
    assert recorder.payloads == [payload]
    writer.close()


async def test_two_messages_in_one_write_answered_in_order(
    server: MllpServer, recorder: Recorder
) -> None:
    """Two frames in one write get two responses, in order."""
    reader, writer = await connect(server)
    writer.write(frame(b"first-message") + frame(b"second-message"))
    await writer.drain()
    assert await read_response(reader) == b"ACK:first-mess"
    assert await read_response(reader) == b"ACK:second-mes"
    assert recorder.payloads == [b"first-message", b"second-message"]
    writer.close()


async def test_bytes_outside_frames_discarded_and_logged_without_content(
    server: MllpServer, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage before the start block and between frames is dropped; only its size is logged."""
    caplog.set_level(logging.INFO, LOGGER)
    reader, writer = await connect(server)
    for byte in b"SECRET-A":  # one gap over many reads still logs once
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.001)
    writer.write(frame(b"one") + b"\r\nSECRET-B" + frame(b"two"))
    await writer.drain()
    assert await read_response(reader) == b"ACK:one"
    assert await read_response(reader) == b"ACK:two"
    assert recorder.payloads == [b"one", b"two"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "discarded 8 bytes" in warnings[0]
    assert "discarded 10 bytes" in warnings[1]
    assert not any("SECRET" in r.getMessage() for r in caplog.records)
    writer.close()


async def test_start_block_inside_payload_is_payload(
    server: MllpServer, recorder: Recorder
) -> None:
    """A 0x0B before the end block is part of the payload, not a new frame."""
    reader, writer = await connect(server)
    writer.write(frame(b"AB\x0bCD"))
    await writer.drain()
    assert await read_response(reader) == b"ACK:AB\x0bCD"
    assert recorder.payloads == [b"AB\x0bCD"]
    writer.close()


async def test_oversize_message_rejected_and_connection_closed(
    server: MllpServer, recorder: Recorder
) -> None:
    """An over-limit payload gets the on_oversize answer, then the connection closes."""
    payload = bytes(range(256)) * 800  # 200 KiB against a 1 KiB limit
    reader, writer = await connect(server)
    writer.write(frame(payload))
    await writer.drain()
    assert await read_response(reader) == b"AR:too big"
    assert await read_eof(reader) == b""
    writer.close()
    (head,) = recorder.oversize_heads
    assert 1024 < len(head) <= 64 * 1024
    assert payload.startswith(head)
    assert recorder.payloads == []
    assert await exchange(server, b"after") == b"ACK:after"


async def test_oversize_complete_frame_rejected(server: MllpServer, recorder: Recorder) -> None:
    """A complete frame just over the limit is rejected even though its end arrived."""
    reader, writer = await connect(server)
    writer.write(frame(b"x" * 1025))
    await writer.drain()
    assert await read_response(reader) == b"AR:too big"
    assert await read_eof(reader) == b""
    assert recorder.oversize_heads == [b"x" * 1025]
    assert await exchange(server, b"x" * 1024) == b"ACK:" + b"x" * 10


async def test_connection_closed_mid_frame(server: MllpServer, recorder: Recorder) -> None:
    """A frame cut off by the peer closing is dropped; the handler never sees it."""
    _, writer = await connect(server)
    writer.write(START_BLOCK + b"MSH|partial")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await wait_until(lambda: server.connection_count == 0)
    assert recorder.payloads == []
    assert await exchange(server, b"next") == b"ACK:next"


async def test_stalled_half_frame_closed_after_read_timeout(
    make_server: ServerFactory, recorder: Recorder
) -> None:
    """A frame that stops arriving half-way is dropped and the connection closed."""
    server = await make_server(read_timeout=0.2)
    reader, writer = await connect(server)
    started = time.monotonic()
    writer.write(START_BLOCK + b"MSH|half")
    await writer.drain()
    assert await read_eof(reader) == b""
    assert time.monotonic() - started >= 0.15
    assert recorder.payloads == []
    writer.close()


async def test_idle_timeout_closes_idle_connection(make_server: ServerFactory) -> None:
    """With an idle timeout, a connection that sends nothing is closed."""
    server = await make_server(idle_timeout=0.2)
    reader, writer = await connect(server)
    assert await read_eof(reader) == b""
    writer.close()


async def test_no_idle_timeout_keeps_idle_connection(make_server: ServerFactory) -> None:
    """Without an idle timeout (the read timeout does not apply between frames) idling is fine."""
    server = await make_server(idle_timeout=None, read_timeout=0.2)
    reader, writer = await connect(server)
    await asyncio.sleep(1.0)
    writer.write(frame(b"still here"))
    await writer.drain()
    assert await read_response(reader) == b"ACK:still here"
    writer.close()


async def test_many_concurrent_connections(server: MllpServer) -> None:
    """Fifty simultaneous connections each get their own responses."""

    async def client(n: int) -> list[bytes]:
        reader, writer = await connect(server)
        responses = []
        for round_ in range(3):
            writer.write(frame(f"c{n:02d}r{round_}".encode()))
            await writer.drain()
            responses.append(await read_response(reader))
        writer.close()
        return responses

    results = await asyncio.gather(*(client(n) for n in range(50)))
    for n, responses in enumerate(results):
        assert responses == [f"ACK:c{n:02d}r{r}".encode() for r in range(3)]


async def test_failing_handler_does_not_stop_server(
    server: MllpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler exception is logged and closes only its own connection."""
    bystander_reader, bystander = await connect(server)
    reader, writer = await connect(server)
    writer.write(frame(b"boom"))
    await writer.drain()
    assert await read_eof(reader) == b""
    assert any(r.exc_info for r in caplog.records if r.name == LOGGER)
    bystander.write(frame(b"bystander"))
    await bystander.drain()
    assert await read_response(bystander_reader) == b"ACK:bystander"
    assert await exchange(server, b"new") == b"ACK:new"
    assert server.is_serving()
    bystander.close()
    writer.close()


async def test_handler_returning_none_sends_nothing(server: MllpServer) -> None:
    """A None response writes nothing and the connection stays usable."""
    reader, writer = await connect(server)
    writer.write(frame(b"quiet"))
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    writer.write(frame(b"loud"))
    await writer.drain()
    assert await read_response(reader) == b"ACK:loud"
    writer.close()


async def test_close_finishes_message_in_flight(make_server: ServerFactory) -> None:
    """close() drops idle connections, lets a slow handler answer, then refuses connections."""
    started = asyncio.Event()

    async def slow(payload: bytes, peer: str) -> bytes:
        started.set()
        await asyncio.sleep(0.3)
        return b"done:" + payload

    server = await make_server(handler=slow)
    idle_reader, idle_writer = await connect(server)
    reader, writer = await connect(server)
    writer.write(frame(b"slow"))
    await writer.drain()
    await asyncio.wait_for(started.wait(), TIMEOUT)

    closing = asyncio.create_task(server.close(grace=2.0))
    assert await read_eof(idle_reader) == b""
    assert not closing.done()  # the idle one went at once; the slow one is still running
    assert await read_response(reader) == b"done:slow"
    assert await read_eof(reader) == b""
    await asyncio.wait_for(closing, TIMEOUT)

    assert not server.is_serving()
    assert server.connection_count == 0
    with pytest.raises(ConnectionRefusedError):
        await connect(server)
    writer.close()
    idle_writer.close()


async def test_close_cancels_after_grace(make_server: ServerFactory) -> None:
    """A handler still running when the grace period ends is cancelled."""
    cancelled = asyncio.Event()

    async def stuck(payload: bytes, peer: str) -> bytes:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b"never"

    server = await make_server(handler=stuck)
    reader, writer = await connect(server)
    writer.write(frame(b"stuck"))
    await writer.drain()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.wait_for(server.close(grace=0.2), TIMEOUT)
    assert time.monotonic() - started < 1.0
    assert cancelled.is_set()
    assert await read_eof(reader) == b""
    writer.close()
