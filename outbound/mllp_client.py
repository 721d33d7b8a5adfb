"""Sending HL7 v2 over MLLP to one destination: one connection, one message in flight.

An acknowledgement counts only when its MSA-2 is the MSH-10 sent (a late ACK of an earlier
message, Mirth issue 1441, is read past). A timeout closes the connection, so that no late
answer can be read as the next message's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mappers.errors import MappingError
from mappers.hl7v2.status import read_ack
from outbound.attempts import Outcome, Verdict, ack_verdict

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_ACK_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


class MllpClient:
    """A lazily opened connection to an MLLP receiver."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, payload: bytes, control_id: str) -> Outcome:
        """Send one message and wait for its acknowledgement."""
        sent = False
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await self._connect()
                writer.write(START_BLOCK + payload + END_BLOCK)
                await writer.drain()
                sent = True
                return await self._await_ack(reader, control_id)
        except TimeoutError:
            await self.close()
            return Outcome(Verdict.RETRY, sent, "no acknowledgement within the timeout")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            return Outcome(Verdict.RETRY, sent, f"connection failed: {type(exc).__name__}")

    async def _await_ack(self, reader: asyncio.StreamReader, control_id: str) -> Outcome:
        while True:
            frame = await reader.readuntil(END_BLOCK)
            payload = frame[frame.find(START_BLOCK) + 1 : -len(END_BLOCK)]
            try:
                reply = read_ack(payload)
            except MappingError as exc:
                log.warning("MLLP %s:%s: unreadable acknowledgement", self._host, self._port)
                return Outcome(Verdict.RETRY, True, f"unreadable acknowledgement: {exc}")
            if reply.control_id != control_id:
                log.warning(
                    "MLLP %s:%s: ACK for %r while waiting for %r; not counted",
                    self._host,
                    self._port,
                    reply.control_id,
                    control_id,
                )
                continue
            verdict = ack_verdict(reply.code)
            error = None if verdict is Verdict.DELIVERED else f"{reply.code}: {reply.text}"
            return Outcome(verdict, True, error)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self._host, self._port, limit=MAX_ACK_BYTES
            )
        return self._reader, self._writer

    async def close(self) -> None:
        """Close the connection, if open."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1):
                    await writer.wait_closed()
