"""`python -m gateway serve` as a process of its own, every port bound as 0 and read back from
the start-up log, so that no test picks a port that another process may take first."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The start-up lines that name a bound port (listeners/mllp.py, listeners/dicom.py, serve.py).
_LISTENING = {
    "mllp": re.compile(rb"MLLP listening on [^:\s]+:(\d+)"),
    "dicom": re.compile(rb"DICOM \S+ listening on [^:\s]+:(\d+)"),
    "http": re.compile(rb"HTTP listening on https?://[^:\s]+:(\d+)"),
}


@dataclass
class GatewayProcess:
    """A running gateway process and the ports it bound."""

    process: asyncio.subprocess.Process
    ports: dict[str, int]
    log: list[str] = field(default_factory=list)  # its stderr, line by line

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"


@asynccontextmanager
async def gateway_process(
    database_url: str, cwd: Path, env: Mapping[str, str] | None = None, *, timeout: float = 60
) -> AsyncIterator[GatewayProcess]:
    """Start the gateway; yield once every listener is bound; SIGTERM it at the end."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMAGING_GW_DATABASE_URL": database_url,
        "IMAGING_GW_MLLP_PORT": "0",
        "IMAGING_GW_HTTP_PORT": "0",
        "IMAGING_GW_DICOM_PORT": "0",
        "IMAGING_GW_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        env=environment,
        cwd=cwd,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    ports: dict[str, int] = {}
    log: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(timeout):
            while len(ports) < len(_LISTENING):
                line = await process.stderr.readline()
                log.append(line.decode(errors="replace"))
                if not line:
                    raise AssertionError(f"gateway exited with {await process.wait()} at start")
                for name, pattern in _LISTENING.items():
                    if found := pattern.search(line):
                        ports[name] = int(found.group(1))
        # Keep reading its log, so that a full pipe never blocks the gateway.
        drain = asyncio.create_task(_drain(process.stderr, log))
        yield GatewayProcess(process, ports, log)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        if drain is not None:
            await drain


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))
