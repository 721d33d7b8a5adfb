"""A plain MLLP client for tests: real TCP, real framing, one message in flight."""

from __future__ import annotations

import asyncio

START, END = b"\x0b", b"\x1c\x0d"


class MllpClient:
    """One connection to an MLLP server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> MllpClient:
        """Open a connection."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, message: bytes, timeout: float = 10.0) -> bytes:
        """Send one framed message and return the unframed answer."""
        self.writer.write(START + message + END)
        await self.writer.drain()
        return await self.receive(timeout)

    async def receive(self, timeout: float = 10.0) -> bytes:
        """Read the next framed answer."""
        data = await asyncio.wait_for(self.reader.readuntil(END), timeout)
        start = data.find(START)
        return data[start + 1 : -2]

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        await self.writer.wait_closed()


def segments(ack: bytes) -> dict[str, list[str]]:
    """An ACK's segments by name, split into fields (MSH numbered as the standard does)."""
    result: dict[str, list[str]] = {}
    for line in ack.decode("latin-1").split("\r"):
        if not line:
            continue
        fields = line.split("|")
        if fields[0] == "MSH":
            fields = ["MSH", "|", *fields[1:]]
        result[fields[0]] = fields
    return result
