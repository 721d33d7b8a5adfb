"""Destinations for the outbox tests, on real sockets bound to port 0 and read back: an MLLP
receiver that answers as the test says, and an HTTP receiver for webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

START, END = b"\x0b", b"\x1c\x0d"

# What the MLLP receiver does with a message: an ACK code (AA, AE, AR) answered with the
# message's MSH-10 in MSA-2, "wrong-id" (an AA naming another message), "close" (drop the
# connection unanswered) or "silent" (answer nothing).
Answer = Callable[[str], str]


def fields_of(message: str, segment: str) -> list[str]:
    """A segment's fields, numbered as the standard does (MSH-1 is the separator)."""
    for line in message.split("\r"):
        parts = line.split("|")
        if parts[0] == segment:
            return ["MSH", "|", *parts[1:]] if segment == "MSH" else parts
    raise KeyError(segment)


@dataclass
class MllpReceiver:
    """An MLLP server that keeps what it received and the answer it gave to each."""

    answer: Answer = lambda _message: "AA"
    received: list[str] = field(default_factory=list)  # every message, as received
    acked: list[str] = field(default_factory=list)  # MSH-10 of each one answered AA
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        """Listen on a port the kernel picks."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def control_ids(self) -> list[str]:
        """MSH-10 of every message received, in order (resends included)."""
        return [fields_of(m, "MSH")[10] for m in self.received]

    async def wait_for_acked(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` messages were answered AA."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.acked) >= count)

    async def wait_for_received(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` messages arrived, whatever the answer."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                frame = await reader.readuntil(END)
                message = frame[frame.find(START) + 1 : -2].decode("utf-8")
                control_id = fields_of(message, "MSH")[10]
                action = self.answer(message)
                async with self._arrived:
                    self.received.append(message)
                    if action == "AA":
                        self.acked.append(control_id)
                    self._arrived.notify_all()
                if action == "close":
                    writer.transport.abort()
                    return
                if action == "silent":
                    continue
                msa_2 = "NOT-" + control_id if action == "wrong-id" else control_id
                code = "AA" if action == "wrong-id" else action
                ack = (
                    f"MSH|^~\\&|RIS|HOSP|IMAGING_GW|RADIOLOGY|20261207120000||ACK^O01|A{control_id}"
                    f"|P|2.5.1\rMSA|{code}|{msa_2}|\r"
                )
                writer.write(START + ack.encode() + END)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass
class HttpReceiver:
    """An HTTP server keeping each webhook POST (headers and raw body) and answering the
    status the test says."""

    status: Callable[[bytes], int] = lambda _body: 204
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        """Serve on a port the kernel picks."""
        app = web.Application()
        app.router.add_post("/hooks", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for_delivered(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` POSTs were answered 2xx."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.delivered) >= count)

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.status(body)
        async with self._arrived:
            self.received.append((dict(request.headers), body))
            if 200 <= status < 300:
                self.delivered.append(body)
            self._arrived.notify_all()
        return web.Response(status=status)
