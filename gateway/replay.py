"""`imaging-gateway replay FILE`: send the messages in a file to a gateway over MLLP.

A file may hold one message, several one after another (each starting with MSH), or MLLP
frames as captured on the wire. Segment separators may be CR, LF or CRLF; they are sent as
CR, the separator HL7 v2 defines.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from listeners.mllp import END_BLOCK, START_BLOCK, frame

_MESSAGE_START = re.compile(rb"(?:^|[\r\n])(?=MSH)")
_LINE_BREAK = re.compile(rb"\r\n|\n|\r")
_TEXT_LINE_BREAK = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one replayed message."""

    control_id: str
    ack_code: str
    text: str


def split_messages(data: bytes) -> list[bytes]:
    """The messages in a file's bytes, each with CR segment separators."""
    if START_BLOCK in data:
        chunks = [part.split(END_BLOCK)[0] for part in data.split(START_BLOCK)[1:]]
    else:
        chunks = _MESSAGE_START.split(data)
    messages = []
    for chunk in chunks:
        segments = [line for line in _LINE_BREAK.split(chunk) if line.strip()]
        if segments:
            messages.append(b"\r".join(segments) + b"\r")
    return messages


def read_reply(ack: bytes) -> Reply:
    """MSA-1, MSA-2 and a reason (MSA-3 or ERR-8) from an ACK's bytes."""
    text = ack.decode("latin-1")
    segments = [s for s in _TEXT_LINE_BREAK.split(text) if s]
    separator = segments[0][3:4] if segments and segments[0].startswith("MSH") else "|"
    msa = next((s.split(separator) for s in segments if s.startswith("MSA")), [])
    err = next((s.split(separator) for s in segments if s.startswith("ERR")), [])
    reason = (msa[3] if len(msa) > 3 else "") or (err[8] if len(err) > 8 else "")
    return Reply(
        control_id=msa[2] if len(msa) > 2 else "",
        ack_code=msa[1] if len(msa) > 1 else "",
        text=reason,
    )


class MllpSender:
    """One MLLP connection to a gateway: send a message, wait for its ACK, and so on."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 30.0) -> MllpSender:
        """Open the connection.

        Raises:
            OSError, TimeoutError: the gateway cannot be reached.
        """
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        return cls(reader, writer)

    async def send(self, message: bytes, *, timeout: float = 30.0) -> Reply:
        """Send one message and read its ACK.

        Raises:
            OSError, TimeoutError, asyncio.IncompleteReadError: the connection failed.
        """
        self._writer.write(frame(message))
        await self._writer.drain()
        response = await asyncio.wait_for(self._reader.readuntil(END_BLOCK), timeout)
        return read_reply(response.lstrip(START_BLOCK)[: -len(END_BLOCK)])

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        await self._writer.wait_closed()


async def replay(
    messages: list[bytes], host: str, port: int, *, timeout: float = 30.0
) -> list[Reply]:
    """Send each message on one connection, waiting for its ACK before the next."""
    sender = await MllpSender.connect(host, port, timeout=timeout)
    try:
        return [await sender.send(message, timeout=timeout) for message in messages]
    finally:
        await sender.close()
