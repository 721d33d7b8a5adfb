"""MLLP server (HL7 v2 Appendix C): frames bytes in and out, one message in flight at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
CHUNK_BYTES = 64 * 1024
OVERSIZE_HEAD_BYTES = 64 * 1024

Handler = Callable[[bytes, str], Awaitable[bytes | None]]
OversizeHandler = Callable[[bytes, str], Awaitable[bytes | None]]


def frame(payload: bytes) -> bytes:
    """Wrap a payload in the MLLP start and end blocks."""
    return START_BLOCK + payload + END_BLOCK


class _Oversize(Exception):
    """A payload grew past the size limit; carries its first bytes."""

    def __init__(self, head: bytes) -> None:
        super().__init__(len(head))
        self.head = head


class _Truncated(Exception):
    """The peer closed the connection in the middle of a frame."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _PeerLog(logging.LoggerAdapter[logging.Logger]):
    """Prefix every record with the connection's peer and carry it as `peer` in extra."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the peer to the message and to the record's extra fields."""
        extra = self.extra or {}
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"MLLP {extra.get('peer')}: {msg}", kwargs


class _FrameReader:
    """Pulls MLLP payloads out of a stream with one buffer, scanning each byte once."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        log: _PeerLog,
        *,
        max_bytes: int,
        idle_timeout: float | None,
        read_timeout: float,
    ) -> None:
        self._reader = reader
        self._log = log
        self._max = max_bytes
        self._idle_timeout = idle_timeout
        self._read_timeout = read_timeout
        self._buf = bytearray()
        # True while no frame has started: the connection holds no message and may be dropped.
        self.waiting = True

    async def next_payload(self) -> bytes | None:
        """Return the next payload, or None when the peer closes between frames.

        Raises:
            TimeoutError: idle (`waiting` is True) or stalled mid-frame (`waiting` is False).
            _Oversize: the payload exceeds the size limit.
            _Truncated: the peer closed mid-frame.
        """
        buf = self._buf
        self.waiting = True
        discarded = 0
        try:
            while (start := buf.find(START_BLOCK)) < 0:
                discarded += self._discard(len(buf))
                if not await self._fill():
                    return None
            discarded += self._discard(start)
        finally:
            if discarded:  # once per gap, not per read; never the content (may be patient data)
                self._log.warning("discarded %d bytes outside a frame", discarded)
        self.waiting = False
        # The payload starts at offset 1. `scanned` remembers how far END_BLOCK was searched so
        # a big frame arriving in many reads is scanned once; back off one byte in case 0x1C
        # ended the previous read. A 0x0B in here is payload, not a new frame.
        scanned = 1
        while (end := buf.find(END_BLOCK, scanned)) < 0:
            if len(buf) - 1 > self._max + 1:
                raise _Oversize(bytes(buf[1 : 1 + OVERSIZE_HEAD_BYTES]))
            scanned = max(1, len(buf) - 1)
            if not await self._fill():
                size = len(buf) - 1
                buf.clear()
                raise _Truncated(size)
        if end - 1 > self._max:
            raise _Oversize(bytes(buf[1 : min(end, 1 + OVERSIZE_HEAD_BYTES)]))
        payload = bytes(buf[1:end])
        del buf[: end + len(END_BLOCK)]  # cheap: CPython trims a bytearray's head in place
        return payload

    async def discard_until_eof(self) -> None:
        """Read and drop input until the peer closes, for at most the read timeout."""
        self._buf.clear()
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(self._read_timeout):
                while await self._reader.read(CHUNK_BYTES):
                    pass

    async def _fill(self) -> bool:
        """Append one read to the buffer, under the idle or read timeout; False at end of stream."""
        timeout = self._idle_timeout if self.waiting else self._read_timeout
        # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its own, a cost
        # paid for every message on the event loop.
        async with asyncio.timeout(timeout):
            chunk = await self._reader.read(CHUNK_BYTES)
        self._buf += chunk
        return bool(chunk)

    def _discard(self, count: int) -> int:
        """Drop `count` bytes from the buffer's head (content logged at DEBUG only); return it."""
        if count and self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("discarding bytes: %r", bytes(self._buf[:count]))
        del self._buf[:count]
        return count


class _Connection:
    """One accepted connection: its task and whether it is between messages."""

    def __init__(self, task: asyncio.Task[Any], frames: _FrameReader) -> None:
        self.task = task
        self.frames = frames


class MllpServer:
    """Accepts MLLP connections and passes each framed payload to `handler`, in order."""

    def __init__(
        self,
        handler: Handler,
        on_oversize: OversizeHandler,
        *,
        host: str,
        port: int,
        max_message_bytes: int,
        idle_timeout: float | None,
        read_timeout: float,
        backlog: int = 128,
        tls: ssl.SSLContext | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._handler = handler
        self._on_oversize = on_oversize
        self._backlog = backlog
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._idle_timeout = idle_timeout
        self._read_timeout = read_timeout
        self._backlog = backlog
        self._tls = tls
        self._log = logger or logging.getLogger(__name__)
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._connections: set[_Connection] = set()
        self._closing = False

    async def start(self) -> None:
        """Bind and start accepting connections."""
        # A burst of engines reconnecting at once must queue, not have their SYNs dropped.
        # With TLS, a handshake that fails or stalls past the read timeout drops that
        # connection only (asyncio's SSL transport); the server serves on.
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._port,
            backlog=self._backlog,
            ssl=self._tls,
            ssl_handshake_timeout=self._read_timeout if self._tls else None,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]
        kind = "MLLP over TLS" if self._tls else "MLLP"
        self._log.info("%s listening on %s:%d", kind, self._host, self._bound_port)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._bound_port is None:
            raise RuntimeError("MllpServer is not started")
        return self._bound_port

    def is_serving(self) -> bool:
        """Tell whether the server is accepting connections."""
        return self._server is not None and self._server.is_serving()

    @property
    def connection_count(self) -> int:
        """How many connections are open."""
        return len(self._connections)

    async def close(self, grace: float) -> None:
        """Stop accepting, let messages in flight finish for up to `grace` seconds, then cancel."""
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        for connection in list(self._connections):
            if connection.frames.waiting:
                connection.task.cancel()
        tasks = [connection.task for connection in self._connections]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._log.info("MLLP listener on port %d closed", self._bound_port)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Start a task of our own for a new connection, so that close() can wait or cancel it."""
        peer = _peer_name(writer)
        log = _PeerLog(self._log, {"peer": peer})
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # ACKs are small: without TCP_NODELAY, Nagle's algorithm would hold them back.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frames = _FrameReader(
            reader,
            log,
            max_bytes=self._max_message_bytes,
            idle_timeout=self._idle_timeout,
            read_timeout=self._read_timeout,
        )
        connection = _Connection(
            asyncio.create_task(self._serve(frames, writer, peer, log)), frames
        )
        self._connections.add(connection)
        connection.task.add_done_callback(lambda _: self._connections.discard(connection))

    async def _serve(
        self, frames: _FrameReader, writer: asyncio.StreamWriter, peer: str, log: _PeerLog
    ) -> None:
        """Run one connection until the peer leaves, an error, a timeout or shutdown."""
        log.info("connected")
        try:
            await self._converse(frames, writer, peer, log)
        except TimeoutError:
            log.warning("peer stopped reading responses; closing")
        except OSError as exc:
            log.warning("connection error: %s", exc)
        except Exception:
            log.exception("connection failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            log.info("disconnected")

    async def _converse(
        self, frames: _FrameReader, writer: asyncio.StreamWriter, peer: str, log: _PeerLog
    ) -> None:
        """Read a frame, await its handler, write the response, drain; repeat."""
        while not self._closing:
            try:
                payload = await frames.next_payload()
            except TimeoutError:
                if frames.waiting:
                    log.info("idle for %s s; closing", self._idle_timeout)
                else:
                    log.warning("frame stalled for %s s; dropped, closing", self._read_timeout)
                return
            except _Truncated as exc:
                log.warning("closed mid-frame; %d bytes dropped", exc.size)
                return
            except _Oversize as exc:
                log.warning("message over %d bytes; rejecting, closing", self._max_message_bytes)
                await self._send(writer, await self._on_oversize(exc.head, peer))
                # Half-close and swallow the rest of the message so the kernel does not answer
                # the unread bytes with a reset, which could destroy our reply in flight.
                if writer.can_write_eof():
                    writer.write_eof()
                await frames.discard_until_eof()
                return
            if payload is None:
                return
            try:
                response = await self._handler(payload, peer)
            except Exception:
                # The handler answers errors itself; this is the last line of defence.
                log.exception("handler failed; closing the connection")
                return
            await self._send(writer, response)

    async def _send(self, writer: asyncio.StreamWriter, response: bytes | None) -> None:
        """Frame and write a response, waiting until it is handed to the kernel."""
        if response is None:
            return
        writer.write(frame(response))
        # A peer that never reads must not pin the connection forever.
        async with asyncio.timeout(self._read_timeout):
            await writer.drain()


def _peer_name(writer: asyncio.StreamWriter) -> str:
    """Format the remote address as host:port ([host]:port for IPv6)."""
    peername = writer.get_extra_info("peername")
    if not peername:
        return "unknown"
    host, port = peername[0], peername[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
