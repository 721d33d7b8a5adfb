"""The MLLP benchmark's processes: the gateway and the floor started and stopped, the load
generators run, and the databases each part gets (`bench/mllp.py`, `bench/mllp_shared.py`)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import POSTGRES_ADMIN_URL, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Plan:
    connections: tuple[int, ...]
    warmup: float
    seconds: float
    soak_seconds: float
    soak_sample: float
    soak_window: float  # first and last window averaged for the growth


@dataclass(slots=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGING_GW_")}
    env.update(extra)
    return env


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def start_gateway(workdir: Path, url: str) -> Server:
    """Start `python -m gateway serve` on free ports and wait until /readyz says 200."""
    mllp, http, dicom = free_port(), free_port(), free_port()
    env = child_env(
        {
            "IMAGING_GW_DATABASE_URL": url,
            "IMAGING_GW_MLLP_PORT": str(mllp),
            "IMAGING_GW_HTTP_PORT": str(http),
            "IMAGING_GW_DICOM_PORT": str(dicom),
            "IMAGING_GW_LOG_LEVEL": "WARNING",
        }
    )
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, mllp, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}: {server.tail()}")
        url = f"http://127.0.0.1:{http}/readyz"
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as reply:
            if reply.status == 200:
                return server
        time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"gateway not ready within 60 s: {server.tail()}")


def start_floor(workdir: Path, where: list[str]) -> Server:
    """Start the bare floor server and wait for its `ready` line."""
    port = free_port()
    log = workdir / "floor.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.mllp_floor", "--port", str(port), *where],
            cwd=ROOT,
            env=child_env({}),
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    server = Server(process, port, log)
    assert process.stdout is not None
    # The floor prints `ready` once it listens, or exits.
    readable, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if readable else b""
    if line.strip() != b"ready":
        stop(server)
        raise RuntimeError(f"floor did not start: {server.tail()}")
    return server


class Loads:
    """Runs load generator processes with run-unique tags."""

    def __init__(self, prefix: str, plan: Plan) -> None:
        self._prefix = prefix
        self._plan = plan
        self._count = 0

    def _command(self, port: int, connections: int, kind: str, **options: float) -> list[str]:
        self._count += 1
        command = [
            sys.executable,
            "-m",
            "bench.mllp_load",
            "--port",
            str(port),
            "--connections",
            str(connections),
            "--kind",
            kind,
            "--tag",
            f"{self._prefix}{self._count:03d}",
            "--ack-timeout",
            "10",
        ]
        for key, value in options.items():
            command += [f"--{key}", str(value)]
        return command

    def run(self, port: int, connections: int, kind: str = "orm") -> dict:
        """Drive `connections` flat out for the plan's warm-up and seconds; return the tally."""
        plan = self._plan
        command = self._command(port, connections, kind, warmup=plan.warmup, seconds=plan.seconds)
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=child_env({}),
            capture_output=True,
            timeout=plan.warmup + plan.seconds + 60,
            check=False,
        )
        return load_result(done.stdout, done.stderr)

    def start_paced(
        self, port: int, connections: int, rate: float, seconds: float
    ) -> subprocess.Popen[bytes]:
        """Start a paced load (`rate` msg/s in all) in the background; return its process."""
        command = self._command(port, connections, "orm", warmup=0, seconds=seconds, rate=rate)
        return subprocess.Popen(
            command, cwd=ROOT, env=child_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )


def load_result(stdout: bytes, stderr: bytes) -> dict:
    for line in reversed(stdout.decode().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"load generator printed no result: {stderr.decode()[-2000:]}")


def status_mb(pid: int, key: str) -> float:
    """A VmRSS / VmHWM line of /proc/<pid>/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {key} for pid {pid}")


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM (Linux clear_refs 5); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- the databases ------------------------------------------------------------------------


@contextmanager
def sqlite_databases(workdir: Path) -> Iterator[tuple[str, list[str]]]:
    """The gateway's URL and the floor's arguments, each a fresh file in `workdir`."""
    yield (
        f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
        ["--sqlite", str(workdir / "floor.db")],
    )


@contextmanager
def postgres_databases() -> Iterator[tuple[str, list[str]]]:
    """Fresh gateway and floor databases on POSTGRES_ADMIN_URL, dropped afterwards."""
    name = f"imaging_gw_bench_{uuid.uuid4().hex[:12]}"
    names = (name, f"{name}_floor")

    async def admin(statements: list[str]) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin([f'CREATE DATABASE "{n}"' for n in names]))
    try:
        admin_url = make_url(POSTGRES_ADMIN_URL)
        gateway = admin_url.set(drivername="postgresql+asyncpg", database=names[0])
        floor = admin_url.set(drivername="postgresql", database=names[1])
        yield (
            gateway.render_as_string(hide_password=False),
            ["--postgres", floor.render_as_string(hide_password=False)],
        )
    finally:
        asyncio.run(admin([f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names]))


def postgres_problem() -> str | None:
    """Why POSTGRES_ADMIN_URL cannot be used, or None when it can."""

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
