"""`python -m gateway serve` as a process of its own, for tests that need several or kill one."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.conftest import free_port


@asynccontextmanager
async def gateway_process(
    database_url: str, workdir: Path
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """A gateway process on `database_url`; yields its MLLP port once /readyz says 200.

    Settings refuse port 0, so the ports are picked free beforehand (a child process cannot
    be handed a bound socket through the settings).
    """
    mllp_port, http_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMAGING_GW_DATABASE_URL": database_url,
        "IMAGING_GW_MLLP_PORT": str(mllp_port),
        "IMAGING_GW_HTTP_PORT": str(http_port),
        "IMAGING_GW_DICOM_PORT": str(free_port()),
        "IMAGING_GW_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        env=env,
        cwd=workdir,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_ready(f"http://127.0.0.1:{http_port}/readyz", process)
        yield mllp_port, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


async def _wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"gateway exited with {process.returncode} while starting")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("gateway did not become ready")
