"""A gateway in its own thread and event loop, for blocking clients (hypothesis, schemathesis),
and a blocking MLLP exchange to talk to it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from gateway.auth import Token
from tests.conftest import gateway_settings, start_gateway

T = TypeVar("T")
START, END = b"\x0b", b"\x1c\x0d"


class ThreadedGateway:
    """A gateway running in its own thread and event loop, for blocking-socket clients."""

    def __init__(self, database_url: str, tokens: Mapping[str, Token] | None = None) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # Every listener binds port 0; the ports are read back from the sockets.
        settings = gateway_settings(database_url, http={"port": 0}, mllp={"port": 0})
        settings = settings.model_copy(
            update={"dicom": settings.dicom.model_copy(update={"port": 0})}
        )
        self.running = self._call(start_gateway(settings, tokens))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    @property
    def port(self) -> int:
        return self.running.mllp_port

    def stop(self) -> None:
        self._call(self.running.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def exchange(port: int, payload: bytes) -> bytes:
    """Send one framed payload; the answer's bytes, or b"" when the gateway closed cleanly."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(START + payload + END)
        return read_until(sock, END)


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Bytes up to and including `marker`, or what came before the peer closed."""
    received = b""
    while marker not in received:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return b""
        if not chunk:
            return received
        received += chunk
    return received
